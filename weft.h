// weft/weft.h — everything a weft program needs, in one include.
#pragma once

#include <weft/fibers/blocking.h>
#include <weft/fibers/cancel.h>
#include <weft/sync/channel.h>
#include <weft/fibers/backtrace.h>
#include <weft/sync/condvar.h>
#include <weft/sync/event.h>
#include <weft/sync/graceful_stop.h>
#include <weft/sync/mutex.h>
#include <weft/fibers/result.h>
#include <weft/sync/semaphore.h>
#include <weft/fibers/spawn.h>
#include <weft/fibers/stats.h>
#include <weft/fibers/trace.h>
#include <weft/sync/wait_group.h>
#include <weft/io/address.h>
#include <weft/io/buffer.h>
#include <weft/uring/features.h>
#include <weft/io/file.h>
#include <weft/io/net.h>
#include <weft/io/process.h>
#include <weft/io/resolve.h>
#include <weft/io/signal.h>
#include <weft/io/stream.h>
#include <weft/runtime/runtime.h>
#include <weft/node/loop.h>
