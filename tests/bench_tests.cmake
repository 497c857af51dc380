# Benchmarks registered with CTest (label bench), included by the top CMakeLists.txt when tests
# are built. They print numbers for the README and fail only when the thing measured does not work.
add_executable(report_html_gen "${CMAKE_SOURCE_DIR}/bench/report_html_gen.cc")
target_link_libraries(report_html_gen PRIVATE dr_report)
add_test(NAME bench.report_browser
         COMMAND bash "${CMAKE_SOURCE_DIR}/bench/report-browser-bench.sh"
                 "$<TARGET_FILE:report_html_gen>" 1000000 3)
set_tests_properties(bench.report_browser PROPERTIES LABELS bench SKIP_RETURN_CODE 77 TIMEOUT 600)
