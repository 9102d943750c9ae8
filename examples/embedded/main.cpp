// Embedding coda: classify one image and explain the decision with no heap allocation after
// setup. The workspace is static storage whose size the network type states at compile time.
#include <coda/coda.hpp>
#include <cstdio>

using net_t = coda::cifar10_9l<float>;

alignas(64) static float workspace_memory[coda::workspace<net_t>::size];
static coda::sample<float, net_t::image_shape> image;          // 3x32x32 in [0, 1]
static coda::sample<float, net_t::encoded_shape> contributions;  // 6x32x32

int main(int argc, char** argv) try {
  // Setup: may allocate (model file, node list of the workspace).
  net_t net;
  if (argc > 1) net = coda::load_model<net_t>(argv[1]);
  else coda::init_uniform(net, 1);  // untrained stand-in so the example runs without a model
  coda::workspace<net_t> ws(workspace_memory, coda::workspace<net_t>::size);

  // A frame from the "sensor": a diagonal gradient.
  for (coda::index_t c = 0; c < 3; ++c)
    for (coda::index_t y = 0; y < 32; ++y)
      for (coda::index_t x = 0; x < 32; ++x) image(c, y, x) = float((x + y + 8 * c) % 64) / 63.f;

  // Hot path: no allocation, bounded memory.
  coda::sample<float, net_t::logits_shape> logits;
  coda::predict(net, image, logits, ws);
  coda::index_t best = 0;
  for (coda::index_t c = 1; c < net_t::num_classes; ++c)
    if (logits(c) > logits(best)) best = c;
  coda::explain(net, image, best, contributions, ws);

  // Completeness: the contributions add up to the logit minus the logit bias.
  double total = 0, positive = 0;
  for (coda::index_t i = 0; i < contributions.size(); ++i) {
    total += contributions.data()[i];
    positive += std::max(0.f, contributions.data()[i]);
  }
  std::printf("class %td  logit %.6f  sum of contributions + bias %.6f\n", best, double(logits(best)),
              total + double(net.logit_bias()));
  std::printf("workspace: %zu bytes, positive evidence %.3g\n", coda::workspace<net_t>::bytes, positive);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
