# A code block of a document is a copy of a source file that CI compiles and runs: the block is
# the ```cpp fence right after the marker line "<!-- snippet: <path> -->", and it must equal the
# file <ROOT>/<path> byte for byte. A mismatch names the first line that differs.
#   cmake -DDOC=<file.md> -DROOT=<directory the path is relative to> -DSNIPPET=<path> -P doc_snippet.cmake
cmake_minimum_required(VERSION 3.16)

foreach(var DOC ROOT SNIPPET)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "doc_snippet.cmake: -D${var}=... is required")
  endif()
endforeach()

file(READ "${DOC}" doc)
file(READ "${ROOT}/${SNIPPET}" source)
set(marker "<!-- snippet: ${SNIPPET} -->")
set(fence "${marker}\n```cpp\n")

# The marker, exactly once, directly followed by the opening fence.
string(FIND "${doc}" "${marker}" at)
string(FIND "${doc}" "${marker}" last REVERSE)
if(at EQUAL -1)
  message(FATAL_ERROR "${DOC}: no marker '${marker}'")
elseif(NOT at EQUAL last)
  message(FATAL_ERROR "${DOC}: the marker '${marker}' appears more than once")
endif()
string(FIND "${doc}" "${fence}" fence_at)
if(NOT fence_at EQUAL at)
  message(FATAL_ERROR "${DOC}: the line after '${marker}' must open a ```cpp block")
endif()

# The block: everything up to the closing fence, which starts a line.
string(LENGTH "${fence}" fence_length)
math(EXPR begin "${at} + ${fence_length}")
string(SUBSTRING "${doc}" ${begin} -1 rest)
string(FIND "\n${rest}" "\n```" end)
if(end EQUAL -1)
  message(FATAL_ERROR "${DOC}: the ```cpp block after '${marker}' is never closed")
endif()
string(SUBSTRING "${rest}" 0 ${end} block)

if(block STREQUAL source)
  return()
endif()

# Find the first line that differs, for the message.
set(line 1)
set(a "${block}")
set(b "${source}")
while(TRUE)
  string(FIND "${a}" "\n" a_end)
  string(FIND "${b}" "\n" b_end)
  string(SUBSTRING "${a}" 0 ${a_end} a_line)
  string(SUBSTRING "${b}" 0 ${b_end} b_line)
  if(NOT a_line STREQUAL b_line OR a_end EQUAL -1 OR b_end EQUAL -1)
    break()
  endif()
  math(EXPR a_end "${a_end} + 1")
  math(EXPR b_end "${b_end} + 1")
  string(SUBSTRING "${a}" ${a_end} -1 a)
  string(SUBSTRING "${b}" ${b_end} -1 b)
  math(EXPR line "${line} + 1")
endwhile()
if(a_line STREQUAL b_line)  # equal up to the end of one of the two
  if(a_end EQUAL -1)
    set(a_line "(the block ends here; the file goes on)")
  else()
    set(b_line "(the file ends here; the block goes on)")
  endif()
endif()
if(a_end EQUAL -1 AND a_line STREQUAL "")
  set(a_line "(end of the block)")
endif()
if(b_end EQUAL -1 AND b_line STREQUAL "")
  set(b_line "(end of the file)")
endif()
message(FATAL_ERROR "${DOC}: the block after '${marker}' differs from ${SNIPPET}; first difference at line ${line}:\n"
                    "  ${DOC}: ${a_line}\n"
                    "  ${SNIPPET}: ${b_line}\n"
                    "Copy ${SNIPPET} into the block verbatim.")
