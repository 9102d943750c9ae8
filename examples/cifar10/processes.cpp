#include "processes.hpp"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <unistd.h>

#include "args.hpp"

#ifdef CODA_HAS_MPI
#include <coda/distributed/mpi.hpp>
#endif

namespace cifar {

namespace {

/// The number of processes an MPI launcher started, from the environment it gives them (Open MPI,
/// MPICH and Intel MPI's Hydra, MVAPICH); 0 when no launcher started this one.
long launched_processes() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"})
    if (const char* value = std::getenv(name)) return std::strtol(value, nullptr, 10);
  return 0;
}

#ifdef CODA_HAS_MPI
struct mpi_run {
  coda::mpi_session session;
  coda::mpi_collective group;
};
std::unique_ptr<mpi_run>& current() {
  static std::unique_ptr<mpi_run> run;
  return run;
}

char stop_line[96];
std::size_t stop_line_length = 0;

/// mpirun ends the other ranks with SIGTERM when one fails: say so in one line before exiting.
extern "C" void on_terminate(int signal) {
  const ssize_t ignored = ::write(STDERR_FILENO, stop_line, stop_line_length);
  (void)ignored;
  ::_exit(128 + signal);
}

void install_stop_line(int rank, int size) {
  const std::string line = "error: rank " + std::to_string(rank) + " of " + std::to_string(size) +
                           ": stopped by the MPI launcher (another rank failed or was killed)\n";
  stop_line_length = std::min(line.size(), sizeof stop_line);
  line.copy(stop_line, stop_line_length);
  std::signal(SIGTERM, on_terminate);
}
#endif

}  // namespace

coda::collective& join_processes() {
  const long launched = launched_processes();
#ifdef CODA_HAS_MPI
  if (launched > 0) {
    if (!current()) current() = std::make_unique<mpi_run>();
    coda::collective& group = current()->group;
    if (group.size() > 1) install_stop_line(group.rank(), group.size());
    return group;
  }
#else
  if (launched > 1)
    throw usage_error("this coda-cifar10 was built without MPI (CODA_WITH_MPI=OFF), but an MPI launcher started " +
                      std::to_string(launched) + " copies of it: they would train " + std::to_string(launched) +
                      " separate models; rebuild with MPI (libopenmpi-dev) or run one process");
#endif
  return coda::single_process();
}

void leave_processes() {
#ifdef CODA_HAS_MPI
  current().reset();
#endif
}

std::string rank_prefix() {
#ifdef CODA_HAS_MPI
  if (current() && current()->group.size() > 1)
    return "rank " + std::to_string(current()->group.rank()) + " of " + std::to_string(current()->group.size()) + ": ";
#endif
  return "";
}

void abort_processes([[maybe_unused]] int code) {
#ifdef CODA_HAS_MPI
  if (current() && current()->group.size() > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
}

}  // namespace cifar
