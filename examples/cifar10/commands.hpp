// The subcommands of coda-cifar10 (docs/cli.md). Each returns the process exit code and throws
// cifar::usage_error (exit 2) or coda::error (exit 1) for main() to report.
#pragma once

namespace cifar {

int run_init(int argc, const char* const* argv);
int run_predict(int argc, const char* const* argv);
int run_train(int argc, const char* const* argv);
int run_eval(int argc, const char* const* argv);
int run_explain(int argc, const char* const* argv);
int run_bench(int argc, const char* const* argv);
int run_metrics(int argc, const char* const* argv);
int run_attribute(int argc, const char* const* argv);

}  // namespace cifar
