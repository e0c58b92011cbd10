// weft/weft.h — everything a weft program needs, in one include.
#pragma once

#include <weft/fibers/blocking.h>
#include <weft/fibers/cancel.h>
#include <weft/fibers/channel.h>
#include <weft/fibers/backtrace.h>
#include <weft/fibers/condvar.h>
#include <weft/fibers/event.h>
#include <weft/fibers/mutex.h>
#include <weft/fibers/result.h>
#include <weft/fibers/semaphore.h>
#include <weft/fibers/spawn.h>
#include <weft/fibers/stats.h>
#include <weft/fibers/trace.h>
#include <weft/fibers/wait_group.h>
#include <weft/uring/address.h>
#include <weft/uring/buffer.h>
#include <weft/uring/features.h>
#include <weft/uring/file.h>
#include <weft/uring/net.h>
#include <weft/uring/resolve.h>
#include <weft/uring/runtime.h>
#include <weft/node/loop.h>
