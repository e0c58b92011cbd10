// The blocking pool: helper threads that run BlockingJobs for parked fibers.
//
// Invariants
//   1. One pool per process, created on first use and never destroyed (its
//      threads may outlive every runtime; the process's exit ends them).
//   2. A job is touched by exactly one helper thread, from pop to the
//      worker's ready_remote(); after that the job (in the waiting fiber's
//      frame) may be gone, so the thread reads worker and fiber first.
//   3. Threads start lazily, whenever queued jobs outnumber idle threads, up
//      to the limit; idle threads wait on a condition variable.
//
// Thread rules: submit() from any worker thread; everything else is internal.
#include <weft/fibers/blocking.h>

#include <pthread.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>

#include <weft/fibers/result.h>
#include <weft/fibers/intrusive_fifo.h>
#include <weft/fibers/trace.h>
#include <weft/fibers/wait.h>
#include <weft/fibers/worker.h>

namespace weft::fibers {
namespace {

class BlockingPool {
 public:
  static BlockingPool& instance() {
    static BlockingPool* pool = new BlockingPool();  // lives for the process
    return *pool;
  }

  // 0, or EAGAIN when no helper thread exists and none can be started (the
  // job is then not queued).
  int submit(BlockingJob* job) {
    std::unique_lock<std::mutex> lock(mutex_);
    // Idle threads may not have woken for earlier jobs yet: grow while the
    // queue holds more jobs than there are idle threads to take them.
    if (queued_ + 1 > idle_ && threads_ < limit_) {
      try {
        std::thread([this] { serve(); }).detach();
        ++threads_;
      } catch (const std::system_error&) {
        if (threads_ == 0) return EAGAIN;  // nobody would ever run it
      }
    }
    jobs_.push_back(job);
    ++queued_;
    lock.unlock();
    ready_.notify_one();
    return 0;
  }

 private:
  BlockingPool() {
    if (const char* v = std::getenv("WEFT_BLOCKING_THREADS")) {
      const int n = std::atoi(v);
      if (n > 0) limit_ = n;
    }
    pthread_atfork(nullptr, nullptr, &BlockingPool::after_fork_in_child);
  }

  // A forked child has none of the parent's helper threads, and its copy of
  // the lock may be held by one of them: it starts an empty pool (the
  // queued jobs belong to the parent's fibers). Otherwise a runtime in the
  // child would queue jobs that nobody ever runs.
  static void after_fork_in_child() {
    BlockingPool& p = instance();
    new (&p.mutex_) std::mutex();
    new (&p.ready_) std::condition_variable();
    p.jobs_ = IntrusiveQueue<BlockingJob>();
    p.queued_ = 0;
    p.idle_ = 0;
    p.threads_ = 0;
  }

  void serve() {
    for (;;) {
      BlockingJob* job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++idle_;
        ready_.wait(lock, [this] { return !jobs_.empty(); });
        --idle_;
        job = jobs_.pop_front();
        --queued_;
      }
      if (job->fiber == nullptr) {  // detached: nobody waits, the job frees itself
        job->run(job);
        continue;
      }
      auto* worker = static_cast<Worker*>(job->worker);
      auto* fiber = static_cast<Fiber*>(job->fiber);
      // Taken now: once the fiber is readied the worker may be gone.
      const void* scheduler = &worker->scheduler();
      const bool traced = trace::on();
      if (traced) [[unlikely]] {
        trace::label_this_thread("blocking pool");
        trace::job(true, scheduler);
      }
      job->run(job);
      worker->ready_remote(fiber, /*announced=*/true);  // the job, the worker may be gone from here on
      if (traced) [[unlikely]]
        trace::job(false, scheduler);  // only compared: never followed
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  fibers::IntrusiveQueue<BlockingJob> jobs_;  // guarded by mutex_
  int queued_ = 0;               // guarded by mutex_
  int idle_ = 0;                 // guarded by mutex_
  int threads_ = 0;              // guarded by mutex_
  int limit_ = 16;
};

}  // namespace

int submit_detached(BlockingJob& job) {
  job.worker = nullptr;
  job.fiber = nullptr;
  return BlockingPool::instance().submit(&job);
}

int submit_blocking(BlockingJob& job) {
  const int rc = BlockingPool::instance().submit(&job);
  // Called in a park's commit, on the worker's own thread.
  if (Worker* w = Worker::current(); rc == 0 && w != nullptr) ++w->counters().blocking_jobs;
  return rc;
}

void run_blocking(BlockingJob& job) {
  Worker& w = require_fiber("weft::blocking");
  job.worker = &w;
  job.fiber = w.current_fiber();
  w.expect_remote();
  // Submitted once the fiber has switched out: a helper thread may ready it
  // the moment the job ends, and Worker::ready_remote() may then hand it to
  // another worker (while its own is stuck on a hog).
  w.park(
      {"weft::blocking", nullptr},
      [](Fiber*, void* j) {
        auto* b = static_cast<BlockingJob*>(j);
        const int rc = submit_blocking(*b);
        if (rc == 0) return true;  // the job is the helper's now: hands off
        b->submit_error = rc;
        static_cast<Worker*>(b->worker)->settle_remote();  // nobody will ready it
        return false;
      },
      &job);
  if (job.submit_error != 0)
    throw std::system_error(errno_error(job.submit_error), "weft::blocking: no helper thread");
}

}  // namespace weft::fibers
