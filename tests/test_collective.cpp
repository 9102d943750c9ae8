// Data-parallel training through the collective hook (coda/nn/collective.hpp) without MPI: the
// shares of a mini-batch, and two ranks run as two threads of this process over an in-process
// collective, which must take the steps of one trainer over the whole batches (up to the order
// of the gradient sums) and start from rank 0's state after synchronise().
#include <catch2/catch.hpp>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "coda/nn/init.hpp"
#include "coda/nn/training.hpp"
#include "support/random_network.hpp"
#include "support/tolerance.hpp"

namespace test_collective {

using namespace coda;

namespace {

using tiny_net = network<double, shape<3, 6, 6>, dau_conv<6, 4, 3, 3, 1, 1>, dau_conv<4, 3, 3, 1, 1, 0>>;
constexpr index_t P = tiny_net::parameter_count;

namespace tol {
/// Two ranks apply each layer's batch sums to their halves and add the results, one trainer
/// applies them to the whole: the same sums in another order, in double, through a few steps.
inline constexpr double split_sums = 1e-9;
}  // namespace tol

/// The processes of a run as threads of this one: what each rank hands to a collective call
/// is visible to the others between two barriers.
class in_process_world {
 public:
  explicit in_process_world(int ranks) : ranks_(ranks), slots_(std::size_t(ranks)) {}
  int ranks() const { return ranks_; }

  void barrier() {
    std::unique_lock<std::mutex> lock(mutex_);
    const long generation = generation_;
    if (++arrived_ == ranks_) {
      arrived_ = 0;
      ++generation_;
      all_arrived_.notify_all();
    } else {
      all_arrived_.wait(lock, [&] { return generation_ != generation; });
    }
  }
  void*& slot(int rank) { return slots_[std::size_t(rank)]; }

 private:
  int ranks_;
  std::vector<void*> slots_;
  std::mutex mutex_;
  std::condition_variable all_arrived_;
  int arrived_ = 0;
  long generation_ = 0;
};

class in_process_rank final : public collective {
 public:
  in_process_rank(in_process_world& world, int rank) : world_(world), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return world_.ranks(); }
  void sum(float* data, std::size_t count) override { add(data, count); }
  void sum(double* data, std::size_t count) override { add(data, count); }
  void broadcast(void* data, std::size_t bytes, int root) override {
    world_.slot(rank_) = data;
    world_.barrier();
    if (rank_ != root) std::memcpy(data, world_.slot(root), bytes);
    world_.barrier();
  }
  int sums = 0;  ///< calls of sum()

 private:
  template <class T>
  void add(T* data, std::size_t count) {
    ++sums;
    world_.slot(rank_) = data;
    world_.barrier();
    std::vector<T> total(count, T(0));
    for (int r = 0; r < world_.ranks(); ++r)
      for (std::size_t i = 0; i < count; ++i) total[i] += static_cast<const T*>(world_.slot(r))[i];
    world_.barrier();  // every rank has read every buffer before any is overwritten
    std::copy(total.begin(), total.end(), data);
  }

  in_process_world& world_;
  int rank_;
};

training_settings settings() {
  training_settings s;
  s.batch = 5;
  s.virtual_batch = 10;
  s.lr = 1e-2;
  return s;
}

tiny_net make_net(std::uint64_t seed) {
  tiny_net net(1.0, -0.5);
  init_uniform(net, seed);
  return net;
}

}  // namespace

TEST_CASE("share_of splits a mini-batch into contiguous shares that differ by at most one image", "[collective]") {
  for (index_t n = 1; n <= 12; ++n)
    for (int ranks = 1; ranks <= 5; ++ranks) {
      INFO(n << " images, " << ranks << " ranks");
      index_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const batch_share s = share_of(n, r, ranks);
        CHECK(s.first == next);
        CHECK((s.count == n / ranks || s.count == n / ranks + 1));
        CHECK(s.count >= share_of(n, ranks - 1, ranks).count);  // the larger shares come first
        next += s.count;
      }
      CHECK(next == n);
    }
  CHECK(share_of(1, 1, 2).count == 0);
}

TEST_CASE("two ranks take the steps of one trainer and start from rank 0's state", "[collective][train]") {
  const int saved_threads = threads();
  set_threads(1);
  constexpr index_t images = 20;  // 4 mini-batches of 5 (shares of 3 and 2), 2 optimiser steps
  const auto data = test::random_images<double, tiny_net::image_shape>(images, 31);
  std::vector<int> labels(images);
  for (index_t i = 0; i < images; ++i) labels[std::size_t(i)] = int(i % 3);

  tiny_net alone = make_net(4);
  trainer<tiny_net> one(alone, settings());
  for (index_t b = 0; b < images; b += 5) one.train_batch(data.data() + b * tiny_net::image_shape::size, &labels[b], 5, 0);

  in_process_world world(2);
  in_process_rank rank0(world, 0), rank1(world, 1);
  tiny_net net0 = make_net(4), net1 = make_net(99);  // rank 1 starts elsewhere: synchronise() fixes that
  double losses[2] = {0, 0};
  const auto run = [&](tiny_net& net, in_process_rank& group, double& loss) {
    trainer<tiny_net> tr(net, settings(), group);
    tr.synchronise();
    for (index_t b = 0; b < images; b += 5) loss += tr.train_batch(data.data() + b * tiny_net::image_shape::size, &labels[b], 5, 0);
  };
  std::thread second([&] { run(net1, rank1, losses[1]); });
  run(net0, rank0, losses[0]);
  second.join();
  set_threads(saved_threads);

  CHECK(rank0.sums == 2);  // one gradient sum per optimiser step, none per mini-batch
  CHECK(rank1.sums == 2);
  CHECK(std::memcmp(net0.parameters(), net1.parameters(), sizeof(double) * P) == 0);  // the ranks agree bit for bit
  CHECK(test::relative_error(net0.parameters(), alone.parameters(), std::size_t(P)) < tol::split_sums);
  CHECK(losses[0] > 0);
  CHECK(losses[1] > 0);
}

TEST_CASE("a rank whose share is empty still takes part in every step", "[collective][train]") {
  in_process_world world(2);
  in_process_rank rank0(world, 0), rank1(world, 1);
  const auto data = test::random_images<double, tiny_net::image_shape>(1, 5);
  const int label = 1;
  tiny_net net0 = make_net(4), net1 = make_net(4);
  training_settings s = settings();
  s.batch = 1;
  s.virtual_batch = 1;
  double loss1 = -1;
  std::thread second([&] {
    trainer<tiny_net> tr(net1, s, rank1);
    loss1 = tr.train_share(nullptr, nullptr, 0, 1, 0);  // a 1-image mini-batch: rank 1's share is empty
  });
  trainer<tiny_net> tr(net0, s, rank0);
  tr.train_share(data.data(), &label, 1, 1, 0);
  second.join();
  CHECK(loss1 == 0);
  CHECK(tr.steps() == 1);
  CHECK(std::memcmp(net0.parameters(), net1.parameters(), sizeof(double) * P) == 0);
  CHECK_THROWS_AS(tr.train_share(data.data(), &label, 0, 1, 0), argument_error);  // rank 0's share is the image
}

}  // namespace test_collective
