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

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

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

  void submit(BlockingJob* job) {
    std::unique_lock<std::mutex> lock(mutex_);
    job->next = nullptr;
    if (tail_ != nullptr)
      tail_->next = job;
    else
      head_ = job;
    tail_ = job;
    ++queued_;
    // Idle threads may not have woken for earlier jobs yet: grow while the
    // queue holds more jobs than there are idle threads to take them.
    if (queued_ > idle_ && threads_ < limit_) {
      ++threads_;
      std::thread([this] { serve(); }).detach();
    }
    lock.unlock();
    ready_.notify_one();
  }

 private:
  BlockingPool() {
    if (const char* v = std::getenv("WEFT_BLOCKING_THREADS")) {
      const int n = std::atoi(v);
      if (n > 0) limit_ = n;
    }
  }

  void serve() {
    for (;;) {
      BlockingJob* job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++idle_;
        ready_.wait(lock, [this] { return head_ != nullptr; });
        --idle_;
        job = head_;
        head_ = job->next;
        if (head_ == nullptr) tail_ = nullptr;
        --queued_;
      }
      auto* worker = static_cast<Worker*>(job->worker);
      auto* fiber = static_cast<Fiber*>(job->fiber);
      job->run(job);
      worker->ready_remote(fiber, /*announced=*/true);  // the job may be gone from here on
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  BlockingJob* head_ = nullptr;  // guarded by mutex_
  BlockingJob* tail_ = nullptr;  // guarded by mutex_
  int queued_ = 0;               // guarded by mutex_
  int idle_ = 0;                 // guarded by mutex_
  int threads_ = 0;              // guarded by mutex_
  int limit_ = 16;
};

}  // namespace

void submit_blocking(BlockingJob& job) { BlockingPool::instance().submit(&job); }

void run_blocking(BlockingJob& job) {
  Worker& w = require_fiber("weft::blocking");
  job.worker = &w;
  job.fiber = w.current_fiber();
  w.expect_remote();
  // Submitted once the fiber has switched out: a helper thread may ready it
  // the moment the job ends, and Worker::ready_remote() may then hand it to
  // another worker (while its own is stuck on a hog).
  w.park(
      [](Fiber*, void* j) {
        BlockingPool::instance().submit(static_cast<BlockingJob*>(j));
        return true;
      },
      &job);
}

}  // namespace weft::fibers
