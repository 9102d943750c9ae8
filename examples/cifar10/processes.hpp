// The processes of a `train` run: this one alone, or the ranks of an MPI job when mpirun (or
// another MPI launcher) started the program and it was built with MPI (CODA_WITH_MPI, which
// defines CODA_HAS_MPI). docs/distributed.md.
#pragma once

#include <coda/nn/collective.hpp>
#include <string>

namespace cifar {

/// The collective of this run. Under an MPI launcher: initialises MPI and returns the ranks of
/// MPI_COMM_WORLD; a launcher with more than one process and a build without MPI is refused
/// (usage_error) instead of training that many independent copies. Otherwise single_process().
coda::collective& join_processes();

/// Ends MPI after a run that finished normally (nothing when MPI was not started).
void leave_processes();

/// "rank R of P: " when this process is one of several, "" otherwise: the start of error lines.
std::string rank_prefix();

/// After an error line: stops the other processes, which would otherwise wait for this one in
/// their next collective call forever (MPI_Abort). Nothing when this process runs alone.
void abort_processes(int code);

}  // namespace cifar
