# Cross-compiling for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu; the programs run under
# qemu-user, which takes the C and C++ runtime from the cross toolchain's tree. Used by the aarch64
# phase of scripts/test.sh:
#   cmake -S tests/cross -B build/aarch64 --toolchain $PWD/cmake/toolchains/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/aarch64-linux-gnu)

# Libraries only from the aarch64 tree, never the host's x86 ones; programs (tools) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
# Header-only packages (Eigen, xsimd, nlohmann-json, Catch2) are the host's: the cross compiler
# searches /usr/include after its own tree, and their CMake files in /usr/share and /usr/lib/cmake
# name headers only. The host's multiarch directory, where its libraries' CMake files are, is not
# searched (CMAKE_LIBRARY_ARCHITECTURE is aarch64-linux-gnu) ...
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# ... except for xsimd, whose Debian package puts its CMake files there.
set(xsimd_DIR /usr/lib/${CMAKE_HOST_SYSTEM_PROCESSOR}-linux-gnu/cmake/xsimd CACHE PATH "xsimd's CMake files (headers only)")
