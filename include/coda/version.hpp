// Library version; kept equal to the project version in CMakeLists.txt (a test checks).
#pragma once

#define CODA_VERSION_MAJOR 0
#define CODA_VERSION_MINOR 1
#define CODA_VERSION_PATCH 0
#define CODA_VERSION_STRING "0.1.0"
