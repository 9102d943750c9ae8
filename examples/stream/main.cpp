// coda-stream: explains a video frame by frame. Reads raw RGB frames (rgb24, W x H, e.g. from
// `ffmpeg -f rawvideo -pix_fmt rgb24 -`) on stdin, and for each writes on stdout a raw RGB frame
// of 2S' x S' pixels: the frame's centre square (the network's input, shown at S' = the short
// side) and its contribution map for the top class (blue < 0 < red, nearest-neighbour), so that
// `ffmpeg -f rawvideo -pix_fmt rgb24 -s 2S'xS' -i -` encodes them; with --classes FILE one CSV row
// per frame (frame, class, logit). After setup nothing is allocated: frames move through a
// bounded queue of preallocated buffers between a reader thread and the network, and the program
// counts its allocations (examples/common/counting_new.cpp) and reports them at the end.
//
//   ffmpeg -i clip.mp4 -f rawvideo -pix_fmt rgb24 -  |
//     coda-stream --model m.safetensors --width 320 --height 240  |
//     ffmpeg -f rawvideo -pix_fmt rgb24 -s 480x240 -r 25 -i - explained.mp4
#include <coda/attribution/contributions.hpp>
#include <coda/io/model_file.hpp>
#include <coda/nn/init.hpp>
#include <coda/nn/presets.hpp>

#include "counting_new.hpp"
#include "diverging.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

struct options {
  std::string model, arch = "cifar10-9l", classes;
  long width = 0, height = 0, queue = 4, seed = -1;
  int threads = 0;
};

[[noreturn]] void usage(const std::string& what) {
  throw std::invalid_argument(what + " (usage: coda-stream (--model M | --arch A --seed S) --width W --height H "
                                     "[--classes FILE] [--queue N] [--threads N])");
}

long number(const char* flag, const char* text, long low, long high) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (!*text || *end || v < low || v > high)
    usage(std::string(flag) + " must be an integer in [" + std::to_string(low) + ", " + std::to_string(high) + "], got '" + text + "'");
  return v;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage("missing value for " + flag);
    const char* value = argv[++i];
    if (flag == "--model") o.model = value;
    else if (flag == "--arch") o.arch = value;
    else if (flag == "--classes") o.classes = value;
    else if (flag == "--width") o.width = number("--width", value, 1, 8192);
    else if (flag == "--height") o.height = number("--height", value, 1, 8192);
    else if (flag == "--queue") o.queue = number("--queue", value, 1, 64);
    else if (flag == "--seed") o.seed = number("--seed", value, 0, 1L << 40);
    else if (flag == "--threads") o.threads = int(number("--threads", value, 1, 1024));
    else usage("unknown flag " + flag);
  }
  if (!o.width || !o.height) usage("--width and --height are required");
  if (o.model.empty() == (o.seed < 0)) usage("give either --model or --seed (random weights, for timing)");
  if (o.arch != "cifar10-9l" && o.arch != "imagenet100-9l") usage("--arch must be cifar10-9l or imagenet100-9l");
  return o;
}

/// A fixed set of frame buffers passed between two threads in order: `free` buffers go to the
/// reader, `full` ones to the network. Capacity is fixed at construction (no allocation after).
class frame_queue {
 public:
  frame_queue(std::size_t frames, std::size_t bytes) : buffers_(frames, std::vector<unsigned char>(bytes)), ring_(frames) {
    for (auto& b : buffers_) free_.push_back(b.data());
  }
  unsigned char* take_free() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !free_.empty(); });
    unsigned char* b = free_.back();
    free_.pop_back();
    return b;
  }
  void give_back(unsigned char* b) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(b);
    changed_.notify_all();
  }
  /// nullptr marks the end of the stream.
  void push_full(unsigned char* b) {
    std::lock_guard<std::mutex> lock(mutex_);
    ring_[(head_ + count_++) % ring_.size()] = b;
    changed_.notify_all();
  }
  unsigned char* pop_full() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return count_ > 0; });
    unsigned char* b = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --count_;
    changed_.notify_all();
    return b;
  }

 private:
  std::vector<std::vector<unsigned char>> buffers_;
  std::vector<unsigned char*> free_;  // capacity reserved by the constructor's push_backs
  std::vector<unsigned char*> ring_;
  std::size_t head_ = 0, count_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
};

/// Where each network input pixel samples the frame: the centre square of side S' = min(W, H),
/// scaled to S x S with bilinear weights (precomputed at setup).
struct resampler {
  struct tap {
    long i0, i1;
    float w1;
  };
  std::vector<tap> xs, ys;
  long side, left, top;  ///< S', the centre square's side in frame pixels, and its corner

  resampler(long width, long height, long s) : side(std::min(width, height)), left((width - side) / 2), top((height - side) / 2) {
    const auto taps = [&](long offset, std::vector<tap>& out) {
      for (long k = 0; k < s; ++k) {
        const double at = std::clamp((k + 0.5) * double(side) / double(s) - 0.5, 0.0, double(side - 1));
        const long i0 = long(at);
        out.push_back({offset + i0, offset + std::min(i0 + 1, side - 1), float(at - double(i0))});
      }
    };
    taps(left, xs);
    taps(top, ys);
  }
  /// The frame (rgb24, width W) as the network's CHW image in [0, 1].
  void apply(const unsigned char* frame, long width, float* image) const {
    const long s = long(xs.size());
    for (long y = 0; y < s; ++y)
      for (long x = 0; x < s; ++x)
        for (long c = 0; c < 3; ++c) {
          const auto px = [&](long fy, long fx) { return float(frame[(fy * width + fx) * 3 + c]); };
          const tap& ty = ys[std::size_t(y)];
          const tap& tx = xs[std::size_t(x)];
          const float top = px(ty.i0, tx.i0) * (1 - tx.w1) + px(ty.i0, tx.i1) * tx.w1;
          const float bottom = px(ty.i1, tx.i0) * (1 - tx.w1) + px(ty.i1, tx.i1) * tx.w1;
          image[(c * s + y) * s + x] = (top * (1 - ty.w1) + bottom * ty.w1) / 255.f;
        }
  }
};

/// Output frame (2S' x S'): the centre square, and the map of S x S contributions (summed over the
/// encoded channels) enlarged to S' x S', blue < 0 < red, white at 0, symmetric range.
void render(const unsigned char* frame, long width, const resampler& r, const float* map, long s, unsigned char* out) {
  float largest = 0;
  for (long i = 0; i < s * s; ++i) largest = std::max(largest, std::abs(map[i]));
  const long side = r.side;
  for (long y = 0; y < side; ++y)
    for (long x = 0; x < side; ++x) {
      unsigned char* left = out + (y * 2 * side + x) * 3;
      const unsigned char* src = frame + ((r.top + y) * width + r.left + x) * 3;
      std::memcpy(left, src, 3);
      const float t = largest > 0 ? map[(y * s / side) * s + x * s / side] / largest : 0.f;
      unsigned char* right = left + side * 3;
      const diverging::rgb c = diverging::colour(t);
      std::memcpy(right, c.data(), 3);
    }
}

template <class Net>
int stream(const options& o) {
  using T = float;
  constexpr long s = Net::image_shape::dim(1);
  static_assert(Net::image_shape::dim(1) == Net::image_shape::dim(2), "square network inputs");
  // ---- setup: everything that allocates ----
  auto net = std::make_unique<Net>();
  if (!o.model.empty()) *net = coda::load_model<Net>(o.model);
  else {
    *net = Net(T(std::string(coda::arch_name<Net>::value) == "imagenet100-9l" ? coda::imagenet100_9l_temperature : 1000.0));
    coda::init_uniform(*net, std::uint64_t(o.seed));
  }
  if (o.threads) coda::set_threads(o.threads);
  const resampler r(o.width, o.height, s);
  const std::size_t in_bytes = std::size_t(o.width * o.height * 3), out_bytes = std::size_t(2 * r.side * r.side * 3);
  frame_queue queue(std::size_t(o.queue), in_bytes);
  coda::detail::aligned_vector<T> workspace_memory(coda::workspace<Net>::size);  // 64-byte aligned, as the workspace needs
  coda::workspace<Net> ws(workspace_memory.data(), workspace_memory.size());
  auto image = std::make_unique<coda::sample<T, typename Net::image_shape>>();
  auto contributions = std::make_unique<coda::sample<T, typename Net::encoded_shape>>();
  coda::sample<T, typename Net::logits_shape> logits;
  std::vector<float> map(std::size_t(s * s));
  std::vector<unsigned char> out(out_bytes);
  std::vector<char> stdin_buffer(1 << 16), stdout_buffer(1 << 16);
  std::setvbuf(stdin, stdin_buffer.data(), _IOFBF, stdin_buffer.size());
  std::setvbuf(stdout, stdout_buffer.data(), _IOFBF, stdout_buffer.size());
  std::FILE* classes = nullptr;
  if (!o.classes.empty() && !(classes = std::fopen(o.classes.c_str(), "w")))
    throw std::runtime_error(o.classes + ": cannot open for writing");
  if (classes) std::fputs("frame,class,logit\n", classes);
  std::fprintf(stderr, "coda-stream: %s, frames %ldx%ld in, %ldx%ld out (rgb24)\n", coda::arch_name<Net>::value, o.width,
               o.height, 2 * r.side, r.side);
  bool partial = false;
  std::thread reader([&] {
    for (;;) {
      unsigned char* b = queue.take_free();
      const std::size_t got = std::fread(b, 1, in_bytes, stdin);
      if (got != in_bytes) {
        partial = got != 0;
        queue.give_back(b);
        queue.push_full(nullptr);
        return;
      }
      queue.push_full(b);
    }
  });
  // ---- the stream: no allocation from here on ----
  const long before = counting_new::allocations.load();
  const auto start = std::chrono::steady_clock::now();
  long frames = 0;
  bool write_failed = false;
  while (unsigned char* frame = queue.pop_full()) {
    r.apply(frame, o.width, image->data());
    coda::predict(*net, *image, logits, ws);
    coda::index_t best = 0;
    for (coda::index_t c = 1; c < Net::num_classes; ++c)
      if (logits(c) > logits(best)) best = c;
    coda::explain(*net, *image, best, *contributions, ws);
    std::fill(map.begin(), map.end(), 0.f);
    for (long c = 0; c < 6; ++c)
      for (long i = 0; i < s * s; ++i) map[std::size_t(i)] += contributions->data()[c * s * s + i];
    render(frame, o.width, r, map.data(), s, out.data());
    queue.give_back(frame);
    write_failed = write_failed || std::fwrite(out.data(), 1, out.size(), stdout) != out.size();
    if (classes) std::fprintf(classes, "%ld,%td,%.6f\n", frames, best, double(logits(best)));
    ++frames;
  }
  write_failed = std::fflush(stdout) != 0 || write_failed;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long during = counting_new::allocations.load() - before;
  reader.join();
  if (classes && std::fclose(classes) != 0) throw std::runtime_error(o.classes + ": cannot write");
  if (write_failed) throw std::runtime_error("cannot write the frames to standard output");
  if (partial) throw std::runtime_error("the input ended in the middle of a frame (are --width and --height right?)");
  std::fprintf(stderr, "coda-stream: %ld frames in %.2f s (%.1f frames/s); allocations while streaming: %ld\n", frames, seconds,
               seconds > 0 ? double(frames) / seconds : 0.0, during);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  const options o = parse(argc, argv);
  std::string arch = o.arch;
  if (!o.model.empty()) {
    const auto meta = coda::read_model_metadata(coda::safetensors_file::read(o.model));
    if (meta.norm != "squash") throw std::invalid_argument(o.model + ": coda-stream runs squash models, this one is " + meta.norm);
    arch = meta.arch;
  }
  if (arch == "imagenet100-9l") return stream<coda::imagenet100_9l<float>>(o);
  if (arch == "cifar10-9l") return stream<coda::cifar10_9l<float>>(o);
  throw std::invalid_argument("unknown architecture '" + arch + "'");
} catch (const std::invalid_argument& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 2;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
