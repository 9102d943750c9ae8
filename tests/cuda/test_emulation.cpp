// The device code of the CUDA implementation run on the CPU: the engine of src/cuda/ with the
// host backend, which executes the very kernels' functors in plain loops and replaces cuBLAS by
// naive GEMMs. It checks the index arithmetic and the algebra against the CPU library on
// machines without a GPU; the GPU itself (launch configuration, cuBLAS calls, streams) is tested
// by coda_cuda_tests (test_device.cpp).
#include "cuda/parity.hpp"
#include "engine.cuh"
#include "host_backend.cuh"
#include "trainer.cuh"

using namespace coda;
using namespace coda::test::cuda;

namespace {
struct emulation {
  using network = coda::cuda::detail::engine<coda::cuda::detail::host_backend>;
  using trainer = coda::cuda::detail::trainer_engine<coda::cuda::detail::host_backend>;
};
}  // namespace

TEST_CASE("emulated device forward logits match the CPU", "[cuda][emulation]") {
  check_forward<emulation>(make_small(), 5, 2);  // chunks of 2, 2 and 1
  check_forward<emulation>(make_cifar(), 2, 1);
}

TEST_CASE("emulated device contributions of every class match the CPU", "[cuda][emulation]") {
  check_contributions<emulation>(make_small(), 3, 2);
  check_contributions<emulation>(make_cifar(), 1, 1);
}

TEST_CASE("emulated device loss and gradients match the CPU", "[cuda][emulation]") {
  for (loss_kind kind : {loss_kind::binary_cross_entropy, loss_kind::cross_entropy}) check_gradients<emulation>(make_small(), 3, 2, kind);
  check_gradients<emulation>(make_cifar(), 2, 1, loss_kind::binary_cross_entropy);
}

TEST_CASE("one emulated Adam step and one SGD step match the CPU", "[cuda][emulation]") {
  check_adam_step<emulation>(make_small(), 3);
  check_sgd_step<emulation>(make_small(), 3);
}

TEST_CASE("a virtual batch of emulated device trainer steps matches coda::trainer", "[cuda][emulation]") {
  check_trainer<emulation>(make_small(), optimizer_kind::adam, loss_kind::binary_cross_entropy);
  check_trainer<emulation>(make_small(), optimizer_kind::sgd, loss_kind::cross_entropy);
}

TEST_CASE("emulated parameters and optimiser state round-trip, and bad requests are refused", "[cuda][emulation]") {
  check_round_trips<emulation>(make_small());
}
