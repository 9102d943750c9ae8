// The worker threads of the batched functions. Work is split into tasks assigned statically
// (task i runs on worker i mod workers), so for a fixed thread count every reduction happens in
// the same order and results are bit-identical from run to run; a different thread count
// changes them only by float rounding.
#pragma once

#include <condition_variable>
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "coda/core/error.hpp"

namespace coda {

namespace detail {

class thread_pool {
 public:
  explicit thread_pool(int workers) : workers_(workers) {
    for (int w = 1; w < workers; ++w) threads_.emplace_back([this, w] { loop(w); });
  }
  ~thread_pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  int workers() const { return workers_; }

  /// Runs fn(task, worker) for task in [0, tasks); the caller is worker 0. Rethrows the first
  /// exception (lowest task) after every task has finished or failed.
  void run(long tasks, const std::function<void(long, int)>& fn) {
    std::lock_guard<std::mutex> one_job_at_a_time(job_mutex_);
    errors_.assign(static_cast<std::size_t>(workers_), nullptr);
    error_task_.assign(static_cast<std::size_t>(workers_), tasks);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      tasks_ = tasks;
      pending_ = workers_ - 1;
      ++generation_;
    }
    wake_.notify_all();
    work(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
    long first = tasks;
    std::exception_ptr error;
    for (int w = 0; w < workers_; ++w)
      if (errors_[static_cast<std::size_t>(w)] && error_task_[static_cast<std::size_t>(w)] < first) {
        first = error_task_[static_cast<std::size_t>(w)];
        error = errors_[static_cast<std::size_t>(w)];
      }
#if CODA_EXCEPTIONS
    if (error) std::rethrow_exception(error);
#endif
  }

 private:
  void work(int w) {
    for (long t = w; t < tasks_; t += workers_) {
#if CODA_EXCEPTIONS
      try {
        (*job_)(t, w);
      } catch (...) {
        errors_[static_cast<std::size_t>(w)] = std::current_exception();
        error_task_[static_cast<std::size_t>(w)] = t;
        return;
      }
#else
      (*job_)(t, w);
#endif
    }
  }

  void loop(int w) {
    unsigned long seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      work(w);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        --pending_;
      }
      done_.notify_one();
    }
  }

  int workers_;
  std::vector<std::thread> threads_;
  std::mutex mutex_, job_mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(long, int)>* job_ = nullptr;
  long tasks_ = 0;
  int pending_ = 0;
  unsigned long generation_ = 0;
  bool stop_ = false;
  std::vector<std::exception_ptr> errors_;
  std::vector<long> error_task_;
};

inline int default_threads() {
  if (const char* env = std::getenv("CODA_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

struct pool_holder {
  std::mutex mutex;
  std::unique_ptr<thread_pool> pool;
  int threads = default_threads();
};

inline pool_holder& pool_state() {
  static pool_holder holder;
  return holder;
}

/// The shared pool, (re)created with the current thread count.
inline thread_pool& pool() {
  auto& s = pool_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.pool || s.pool->workers() != s.threads) s.pool = std::make_unique<thread_pool>(s.threads);
  return *s.pool;
}

}  // namespace detail

/// Sets the number of threads the batched functions use (training, batched prediction and
/// explanation). The default is the number of hardware threads, or the CODA_THREADS environment
/// variable when set. Not to be called while a batched function runs.
inline void set_threads(int n) {
  CODA_REQUIRE(n >= 1, "coda::set_threads: at least one thread is needed");
  auto& s = detail::pool_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.threads = n;
}

/// The number of threads the batched functions use.
inline int threads() {
  auto& s = detail::pool_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.threads;
}

/// Runs f(i, worker) for i in [0, count) on the coda::threads() workers (worker in
/// [0, threads())) and returns when all are done; the exception of the lowest failing task is rethrown.
/// Not reentrant: f must not call a batched coda function.
template <class F>
void parallel_for(long count, F&& f) {
  detail::pool().run(count, std::forward<F>(f));
}

}  // namespace coda
