# Compile settings shared by every weft target.
#
# weft_apply_options(<target>) gives a target the project's warnings and the
# code-generation flags the runtime relies on: frame pointers everywhere (perf
# and gdb walk fiber stacks through them) and stack-clash probing (a large
# frame touches each page in turn, so it faults in the guard region instead of
# jumping over it into a neighbouring stack).

# Sanitizers apply to the whole build so tests and the library agree.
if(WEFT_SANITIZE)
  string(REPLACE "," ";" _weft_sanitizers "${WEFT_SANITIZE}")
  foreach(_s IN LISTS _weft_sanitizers)
    if(NOT _s MATCHES "^(address|undefined|thread)$")
      message(FATAL_ERROR "WEFT_SANITIZE: unknown sanitizer '${_s}'")
    endif()
  endforeach()
  add_compile_options(-fsanitize=${WEFT_SANITIZE} -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${WEFT_SANITIZE})
  add_compile_definitions(WEFT_SANITIZE_BUILD=1)
endif()

add_compile_options(-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
                    -fstack-clash-protection)

function(weft_apply_options target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX,C>:-Wall -Wextra -Wshadow -Wno-missing-field-initializers>
    $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor>)
  if(WEFT_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX,C>:-Werror>)
  endif()
  # g++ 12 at -O3 (Release) reports -Wrestrict inside libstdc++ for
  # `"literal" + std::string` (GCC bug 105329, fixed in 13): a false
  # positive in the library's own code, not in ours.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
  endif()
endfunction()
