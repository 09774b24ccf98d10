# SPDX-License-Identifier: MIT
# Test helpers.  Labels: unit (fast, no network, no root, no peers),
# e2e (real binaries and peers), fuzz (fuzz targets over their corpus).
find_package(PkgConfig REQUIRED)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

# add_unit_test(NAME) builds tests/unit/NAME.c against the core library,
# with the shared helpers test_support.c and agent_test_support.c.
function(add_unit_test name)
	add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/unit/${name}.c
		${CMAKE_SOURCE_DIR}/tests/unit/test_support.c
		${CMAKE_SOURCE_DIR}/tests/unit/agent_test_support.c)
	target_link_libraries(${name} PRIVATE ostiadaemon ostiacore PkgConfig::CMOCKA)
	target_compile_definitions(${name} PRIVATE
		OSTIA_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
	add_test(NAME unit.${name} COMMAND ${name})
	set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 120
		ENVIRONMENT "OSTIA_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()

# add_fuzz_target(NAME) builds tests/fuzz/NAME.c; with the standalone
# driver it replays tests/fuzz/corpus/NAME/ and a fixed number of seeded
# mutations of it, so every run is repeatable.
#
# With OSTIA_LIBFUZZER (clang), the target is linked with libFuzzer
# instead and run coverage-guided for OSTIA_FUZZ_SECONDS, starting from
# the committed corpus (read only: new inputs go to a scratch directory
# in the build tree).
set(OSTIA_FUZZ_SECONDS 15 CACHE STRING "Seconds per libFuzzer target")
function(add_fuzz_target name)
	if(OSTIA_LIBFUZZER)
		add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/${name}.c)
		target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
		target_link_options(${name} PRIVATE -fsanitize=fuzzer)
		target_link_libraries(${name} PRIVATE ostiadaemon ostiacore)
		set(scratch ${CMAKE_BINARY_DIR}/fuzz-scratch/${name})
		file(MAKE_DIRECTORY ${scratch})
		add_test(NAME libfuzzer.${name} COMMAND ${name}
			-max_total_time=${OSTIA_FUZZ_SECONDS} -timeout=10
			-rss_limit_mb=2048 -print_final_stats=1
			${scratch} ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
		set_tests_properties(libfuzzer.${name} PROPERTIES
			LABELS libfuzzer TIMEOUT 600)
		return()
	endif()
	add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/${name}.c
		${CMAKE_SOURCE_DIR}/tests/fuzz/standalone.c)
	target_link_libraries(${name} PRIVATE ostiadaemon ostiacore)
	add_test(NAME fuzz.${name} COMMAND ${name}
		${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
	set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()

# add_e2e_test(DIR) runs the pytest scenario in tests/e2e/DIR with
# Debian's python; exit 77 (a skipped peer) shows as a skip in ctest.
function(add_e2e_test dir)
	add_test(NAME e2e.${dir}
		COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
			${CMAKE_SOURCE_DIR}/tests/e2e/${dir})
	set_tests_properties(e2e.${dir} PROPERTIES LABELS e2e TIMEOUT 600
		SKIP_RETURN_CODE 77
		ENVIRONMENT "OSTIA_BIN=$<TARGET_FILE:ostia>;OSTIA_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONUNBUFFERED=1")
endfunction()
