# Checks of the operations files (cron/, docker/), included by the top CMakeLists.txt.
# Each is a bash script taking the repository root; exit 77 means "cannot run here" and shows as
# skipped. Run them alone with: ctest -L ops
set(DR_OPS_CHECKS
  yamllint          # yamllint --strict on every YAML file
  kubernetes        # CronJob, backfill Job, Secret: required fields (check_manifests.py)
  compose           # docker/compose.yaml: services, dependencies, loopback-only http
  dockerfile        # docker/Dockerfile stages, runtime packages, user; the ignore file
  crontab           # crontab.example well-formed, flock -n; the line runs and skips when locked
  cron-wrapper      # cron/deposit-reconciler-cron.sh: logging, mail-on-failure, timeout, SIGTERM
  systemd-units     # service/timer settings (static)
  systemd-verify    # systemd-analyze verify (skips where it cannot run)
  systemd-security  # systemd-analyze security --offline exposure threshold
  shell-syntax      # bash -n (and shellcheck -S error if present) on every shell script
  placeholders      # every value to replace is a <<REPLACE: ...>> marker; no other example values
)
foreach(check IN LISTS DR_OPS_CHECKS)
  add_test(NAME ops.${check}
           COMMAND bash "${CMAKE_SOURCE_DIR}/tests/ops/${check}.sh" "${CMAKE_SOURCE_DIR}")
  set_tests_properties(ops.${check} PROPERTIES LABELS ops SKIP_RETURN_CODE 77 TIMEOUT 60)
endforeach()
# shellcheck over every script takes 55 s alone on a 2-core machine under load (it timed out once
# at 60 s under ctest -L ops beside other builds): room to spare, still bounded.
set_tests_properties(ops.shell-syntax PROPERTIES TIMEOUT 300)

# The command lines of those files run against the built binaries, a throwaway PostgreSQL and the
# simulator (skips if the binaries are not built yet).
add_test(NAME ops.command-lines
         COMMAND bash "${CMAKE_SOURCE_DIR}/tests/ops/command-lines.sh" "${CMAKE_SOURCE_DIR}"
                 "$<TARGET_FILE:deposit-reconciler>" "$<TARGET_FILE:deposit-gateway-sim>")
set_tests_properties(ops.command-lines PROPERTIES LABELS ops SKIP_RETURN_CODE 77 TIMEOUT 180)

# Builds the image with podman from a debootstrapped Debian 12 and runs the binary inside it:
# minutes and network access to the Debian mirror, so only on request
# (cmake -DDR_OPS_IMAGE_CHECK=ON, then ctest -L ops-image).
option(DR_OPS_IMAGE_CHECK "Register the podman image check (slow; needs the Debian mirror)" OFF)
if(DR_OPS_IMAGE_CHECK)
  add_test(NAME ops.podman-image
           COMMAND bash "${CMAKE_SOURCE_DIR}/scripts/podman-image-check.sh")
  set_tests_properties(ops.podman-image PROPERTIES LABELS ops-image SKIP_RETURN_CODE 77 TIMEOUT 1800
                       RUN_SERIAL TRUE)
endif()
