# Installs the weft build tree into a scratch prefix, builds the consumer
# project against it with find_package(weft), and runs the result.
# Inputs: WEFT_BINARY_DIR, CONSUMER_SOURCE_DIR, WORK_DIR, CXX_COMPILER.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

step(${CMAKE_COMMAND} --install ${WEFT_BINARY_DIR} --prefix ${prefix})
if(EXISTS ${prefix}/include/weft/fibers/worker.h)
  message(FATAL_ERROR "an internal header was installed: fibers/worker.h")
endif()
step(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build
     -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
step(${WORK_DIR}/build/consumer)
message(STATUS "consumer built against the installed tree and ran")
