// coda::collective over MPI, for data-parallel training on several processes (one host or many,
// as mpirun starts them). Only programs that link MPI include this header (CMake: MPI::MPI_C);
// the rest of the library never sees <mpi.h>.
//
//   coda::mpi_session mpi;                  // MPI_Init_thread, unless the program did it already
//   coda::mpi_collective group;             // a private copy of MPI_COMM_WORLD
//   coda::trainer<Net> tr(net, settings, group);
//   tr.synchronise();                       // every rank starts from rank 0's state
//   ... tr.train_batch(...) on every rank with the same mini-batches ...
#pragma once

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>

#include "coda/core/error.hpp"
#include "coda/nn/collective.hpp"

namespace coda {

namespace detail {

inline void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  CODA_THROW(io_error(std::string("MPI: ") + what + " failed: " + std::string(text, std::size_t(length))));
}

/// Runs f(offset, count) over [0, total) in pieces MPI's int counts can hold.
template <class F>
void in_int_pieces(std::size_t total, F&& f) {
  constexpr std::size_t piece = std::size_t(INT_MAX) / 64 * 64;
  for (std::size_t at = 0; at < total; at += piece) f(at, int(std::min(piece, total - at)));
}

}  // namespace detail

/// MPI_Init_thread on construction and MPI_Finalize on destruction, for a program that owns MPI;
/// does neither when MPI was already initialised. Only the thread that made it calls MPI
/// (MPI_THREAD_FUNNELED): the trainer's worker threads never do.
class mpi_session {
 public:
  mpi_session() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) return;
    int provided = 0;
    detail::check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    owner_ = true;
  }
  mpi_session(const mpi_session&) = delete;
  mpi_session& operator=(const mpi_session&) = delete;
  ~mpi_session() {
    if (owner_) MPI_Finalize();
  }

 private:
  bool owner_ = false;
};

/// A collective over the processes of an MPI communicator. It works on its own duplicate of the
/// communicator, whose errors are returned (and thrown as coda::io_error) instead of aborting.
class mpi_collective final : public collective {
 public:
  explicit mpi_collective(MPI_Comm comm = MPI_COMM_WORLD) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    CODA_REQUIRE(initialised, "coda::mpi_collective: MPI is not initialised (make an mpi_session first)");
    detail::check_mpi(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  mpi_collective(const mpi_collective&) = delete;
  mpi_collective& operator=(const mpi_collective&) = delete;
  ~mpi_collective() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(float* data, std::size_t count) override { all_sum(data, count, MPI_FLOAT); }
  void sum(double* data, std::size_t count) override { all_sum(data, count, MPI_DOUBLE); }
  void broadcast(void* data, std::size_t bytes, int root) override {
    detail::in_int_pieces(bytes, [&](std::size_t at, int n) {
      detail::check_mpi(MPI_Bcast(static_cast<std::uint8_t*>(data) + at, n, MPI_BYTE, root, comm_), "MPI_Bcast");
    });
  }
  MPI_Comm communicator() const { return comm_; }

 private:
  template <class T>
  void all_sum(T* data, std::size_t count, MPI_Datatype type) {
    if (size_ == 1) return;
    detail::in_int_pieces(count, [&](std::size_t at, int n) {
      detail::check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + at, n, type, MPI_SUM, comm_), "MPI_Allreduce");
    });
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
};

}  // namespace coda
