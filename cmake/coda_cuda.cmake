# The optional CUDA implementation (include/coda/cuda/, src/cuda/): the static library coda_cuda,
# alias coda::cuda. CODA_WITH_CUDA defaults to ON when CMake finds a CUDA compiler. The sources
# include neither Eigen nor xsimd, so the library builds with the CUDA toolkit alone.
include(CheckLanguage)

# nvcc is often installed outside PATH; the toolkit's default location is the next best guess.
if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
  find_program(CODA_NVCC_ON_PATH nvcc)
  if(NOT CODA_NVCC_ON_PATH AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
endif()
# nvcc compiles the host code with the project's C++ compiler, not whichever one is on PATH.
if(NOT DEFINED CMAKE_CUDA_HOST_COMPILER)
  set(CMAKE_CUDA_HOST_COMPILER ${CMAKE_CXX_COMPILER} CACHE FILEPATH "Host compiler of nvcc")
endif()
check_language(CUDA)

set(CODA_CUDA_DEFAULT OFF)
if(CMAKE_CUDA_COMPILER)
  set(CODA_CUDA_DEFAULT ON)
endif()
option(CODA_WITH_CUDA "Build the CUDA implementation (coda::cuda; needs nvcc and the CUDA toolkit)" ${CODA_CUDA_DEFAULT})

if(CODA_WITH_CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR "CODA_WITH_CUDA is ON but no CUDA compiler was found: set CMAKE_CUDA_COMPILER to nvcc")
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)

  file(GLOB CODA_CUDA_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/cuda/*.cu)
  add_library(coda_cuda STATIC ${CODA_CUDA_SOURCES})
  add_library(coda::cuda ALIAS coda_cuda)
  # 90: sm_90 machine code and compute_90 PTX, which the driver compiles for newer GPUs.
  set_target_properties(coda_cuda PROPERTIES CUDA_ARCHITECTURES 90 CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON
                                             CUDA_EXTENSIONS OFF POSITION_INDEPENDENT_CODE ON)
  target_include_directories(coda_cuda PRIVATE ${PROJECT_SOURCE_DIR}/src/cuda)
  # cuBLAS is loaded with dlopen on first use (src/cuda/cublas_loader.hpp), not linked: its
  # static constructors would cost every process that links coda_cuda 0.8 s at start-up.
  target_link_libraries(coda_cuda PUBLIC coda::coda ${CMAKE_DL_LIBS} PRIVATE CUDA::cudart)
  target_compile_definitions(coda_cuda PRIVATE CODA_CUBLAS_LIBRARY_DIR="${CUDAToolkit_LIBRARY_DIR}")
  target_compile_definitions(coda_cuda PUBLIC CODA_HAS_CUDA=1)
  # Warnings are errors in the host code (g++) and in nvcc's own diagnostics.
  target_compile_options(coda_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Werror --Werror=all-warnings>)
  message(STATUS "coda: CUDA implementation ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, sm_90)")
else()
  message(STATUS "coda: CUDA implementation OFF")
endif()
