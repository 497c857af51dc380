#!/usr/bin/env bash
# The deployment files (cron/, docker/) mark every value a person must replace the same way,
# <<REPLACE: what goes here>> (with "e.g. VALUE" where the ops tests need one to run), and hold
# no other example value: no example.com address or registry, no REPLACE-WITH-..., changeme,
# TODO or <VALUE>, no cluster-internal host name that is one cluster's. docker/demo-secrets/ holds
# the compose demo's values (its README says so) and is left out.
source "$(dirname "$0")/lib.sh" "$@"
cd "$REPO"
mapfile -t files < <(find cron docker -type f ! -path 'docker/demo-secrets/*' | sort)
((${#files[@]} > 5)) || die "expected the deployment files under cron/ and docker/, found: ${files[*]}"
bad=0
for f in "${files[@]}"; do
  n=0
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    # Every marker is whole: <<REPLACE: text>> on one line, text not empty.
    rest=$line
    while [[ $rest == *'<<REPLACE'* ]]; do
      rest=${rest#*<<REPLACE}
      if ! [[ $rest =~ ^:\ [^\<\>]*[^\<\>\ ]\>\> ]]; then
        echo "$f:$n: a malformed marker (want <<REPLACE: text>>): $line"
        bad=1
        break
      fi
      rest=${rest#*>>}
    done
    # What is left once the markers are taken out must hold no example value.
    stripped=$(sed -E 's/<<REPLACE: [^<>]*>>//g' <<<"$line")
    if grep -qiE 'example\.(com|org|net)|change-?me|\bTODO\b|\bFIXME\b' <<<"$stripped" ||
      grep -qE 'REPLACE|\bxxx+\b|<[A-Z][A-Z_]+>|[a-z0-9-]+\.svc(\.cluster\.local)?\b|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z]{2,}' \
        <<<"$stripped"; then
      echo "$f:$n: an example value outside a <<REPLACE: ...>> marker: $line"
      bad=1
    fi
  done <"$f"
done
((bad == 0)) || die "deployment files hold unmarked example values (see above)"

# The places that must be markers are markers.
expect_marker() {
  local file=$1 pattern=$2
  grep -E "$pattern" "$file" | grep -qv '<<REPLACE: ' && die "$file: '$pattern' is not a <<REPLACE: ...>> marker"
  grep -qE "$pattern" "$file" || die "$file: nothing matches '$pattern'"
}
expect_marker cron/crontab.example '^MAILTO='
for f in cron/kubernetes/cronjob.yaml cron/kubernetes/backfill-job.yaml; do
  expect_marker "$f" '^[[:space:]]*image:'
done
expect_marker cron/kubernetes/secret.example.yaml '^[[:space:]]*(api-key|database-url|hmac-secret):'
# The Job's name (the first metadata name; the volume claim's is fixed).
grep -m1 '^  name:' cron/kubernetes/backfill-job.yaml | grep -q '<<REPLACE: .*e\.g\. ' \
  || die "backfill-job.yaml: the Job's name is not a <<REPLACE: ..., e.g. VALUE>> marker"
# The backfill's window and cut-off: the value lines after the flags.
for flag in --created-after --created-before --not-checked-since; do
  grep -A1 -- "- $flag\$" cron/kubernetes/backfill-job.yaml | tail -1 | grep -q '<<REPLACE: .*e\.g\. ' \
    || die "backfill-job.yaml: the value of $flag is not a <<REPLACE: ..., e.g. VALUE>> marker"
done
echo "placeholders: $(grep -ho '<<REPLACE: ' "${files[@]}" | wc -l) marker(s) in ${#files[@]} files, no other example value"
