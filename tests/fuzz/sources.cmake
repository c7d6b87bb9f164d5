# The libFuzzer harnesses (DAGATE_FUZZ, scripts/build --fuzz): a top layer
# like tests/unit, so they may call any layer. One fuzz_NAME.c per harness;
# its seeds are corpus/NAME/, its dictionary NAME.dict (when there is one).
# `cmake --build build-fuzz --target fuzz` builds them all.
set(DAGATE_FUZZ_HARNESSES sf_request sf_client_answer config token_api forwarded template sso)
add_custom_target(fuzz)
foreach(name ${DAGATE_FUZZ_HARNESSES})
  add_executable(fuzz_${name} tests/fuzz/fuzz_${name}.c)
  target_link_libraries(fuzz_${name} PRIVATE ${DAGATE_LAYERS})
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  add_dependencies(fuzz fuzz_${name})
endforeach()
