// libFuzzer target: the command-line parser of coda-cifar10 with the flags of `train` (from the
// command table), and the typed readers every command uses. Arguments are the input split at NUL
// bytes.
#include <cstdint>
#include <string>
#include <vector>

#include "args.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words{"coda-cifar10", "train"};
  std::string current;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      words.push_back(current);
      current.clear();
    } else {
      current += static_cast<char>(data[i]);
    }
  }
  words.push_back(current);
  std::vector<const char*> argv;
  for (const auto& w : words) argv.push_back(w.c_str());
  try {
    const cifar::args a("train", static_cast<int>(argv.size()), argv.data(), 2);
    a.integer("epochs", 0, 1000000);
    a.number("lr", 1e-12, 1e3);
    a.choice("norm", {"squash", "l2"});
    cifar::thread_count(a);
    a.optional("data");
  } catch (const cifar::usage_error&) {
  }
  return 0;
}
