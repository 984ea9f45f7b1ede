# shellcheck shell=bash
# Shared by scripts/check (`make check`) and the longer targets
# (scripts/check-*); sourced after scripts/lib.sh, never run.
#
#   result ok|fail NAME [DETAIL]   one TAP-like line, counted
#   stage NAME                     the time since the last stage is NAME's
#   substage NAME SECS             a line of the stage table for a part of
#                                  the next stage (SECS long)
#   finish                         stage times, "N passed, N failed", exit
#   vm_suite MOD TAG SUITE [ENV=V...]
#                                  SUITE in a VM with --module MOD (with
#                                  $vm_runner, default scripts/vm-run); TAP in
#                                  $log/tap.TAG.MOD, exit code in $log/rc.TAG.MOD
#   vm_suites MOD "ENV=V..." TAG:SUITE...
#                                  the SUITEs one after the other in one VM
#                                  (run_suites.sh: one boot per module, not per
#                                  suite); TAP in $log/tap.TAG.MOD, each suite's
#                                  exit code (99 if the kernel reported during
#                                  it, 97 if it never ended) in $log/rc.TAG.MOD,
#                                  its time in the stage table (substage);
#                                  vm_verdict MOD then judges the VM run itself
#   build_for_vm NAME              setup-host, the $variant kernel (sets kdir), a
#                                  scratch $log (/tmp/cfrs-NAME.*, removed at
#                                  exit), then cachefiles_rs.ko, the selftests
#                                  and the daemon; a failure ends the run
#   build_9pfsc                    9pfsc.ko for the normal-mode suites
#                                  (scripts/netfs-9p): a result line and a
#                                  stage; fails if it could not be built
#   side_by_side TITLE PREFIX TAG...
#                                  one row per case of the TAGs' suites with
#                                  C's and Rust's result, one result line per
#                                  case (PASS on both) and per VM run
# Needs $variant (kernel variant) and $log (a scratch directory).

pass=0 fail=0 n=0
result() {
	n=$((n + 1))
	if [ "$1" = ok ]; then pass=$((pass + 1)); echo "ok $n $2"
	else fail=$((fail + 1)); echo "not ok $n $2${3:+ # $3}"; fi
}
# Wall-clock time of each stage, printed by finish (also after an early stop).
SECONDS=0
stage_names=() stage_secs=() stage_t0=0
stage() {
	stage_names+=("$1")
	stage_secs+=($((SECONDS - stage_t0)))
	stage_t0=$SECONDS
}
substage() {
	stage_names+=("$1")
	stage_secs+=("$2")
}
mmss() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }
finish() {
	local i
	printf '\n%-40s %8s\n' "stage" "time"
	for i in "${!stage_names[@]}"; do
		printf '%-40s %8s\n' "${stage_names[$i]}" "$(mmss "${stage_secs[$i]}")"
	done
	printf '%-40s %8s\n' "total" "$(mmss "$SECONDS")"
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
	exit $?
}

build_for_vm() {
	scripts/setup-host || { result fail setup-host; finish; }
	kdir=$(scripts/kernel-build "$variant") || { result fail "kernel-build $variant"; finish; }
	log=$(mktemp -d "/tmp/cfrs-$1.XXXXXX")
	trap 'rm -rf "$log"' EXIT
	if make -s KDIR="$kdir" modules >"$log/build" 2>&1 &&
		make -s KDIR="$kdir" selftests >>"$log/build" 2>&1 &&
		(cd tools/cachefiles-ondemandd &&
			env -u RUSTC -u RUSTDOC -u RUSTFMT -u CLIPPY_DRIVER cargo build --quiet --release) \
			>>"$log/build" 2>&1; then
		result ok "build: cachefiles_rs.ko, selftests, cachefiles-ondemandd"
	else
		tail -n 30 "$log/build"; result fail "build"; finish
	fi
	stage "setup, kernel, build"
}

vm_suite() {
	local m=$1 tag=$2 suite=$3
	shift 3
	# The guest does not inherit our environment: pass the settings.
	"${vm_runner:-scripts/vm-run}" --kernel "$variant" --module "$m" -- env "$@" "$CFRS_ROOT/$suite" \
		>"$log/tap.$tag.$m" 2>"$log/err.$tag.$m"
	echo $? >"$log/rc.$tag.$m"
	sed 's/^/    /' "$log/err.$tag.$m" | grep -v '^    $' | tail -n 40
	# A failed case with what the suite printed around it.
	if grep -q '^not ok' "$log/tap.$tag.$m"; then
		echo "    failed in $tag --module $m:"
		grep -B3 -A6 '^not ok' "$log/tap.$tag.$m" | head -n 80 | sed 's/^/    | /'
	fi
}

vm_suites() {
	local m=$1 envs=$2 s tag args=()
	shift 2
	for s in "$@"; do args+=("${s%%:*}" "env $envs $CFRS_ROOT/${s#*:}"); done
	# vm-run's default timeout (30 min) is for one suite.
	CFRS_VM_TIMEOUT=${CFRS_VM_TIMEOUT:-$((1800 * $#))} \
		"${vm_runner:-scripts/vm-run}" --kernel "$variant" --module "$m" -- \
		"$CFRS_ROOT/tools/testing/selftests/cachefiles/run_suites.sh" "${args[@]}" \
		>"$log/out.vm.$m" 2>"$log/err.vm.$m"
	echo $? >"$log/rc.vm.$m"
	for s in "$@"; do : >"$log/tap.${s%%:*}.$m"; rm -f "$log/rc.${s%%:*}.$m"; done
	# Split the framed output (see run_suites.sh) into one TAP file per suite.
	awk -v dir="$log" -v m="$m" '
		/^#@@ begin / { tag = $3; next }
		/^#@@ splat / { print "# the kernel reported during this suite" >> (dir "/tap." $3 "." m); next }
		/^#@@ end / {
			sub(/^rc=/, "", $4); print $4 > (dir "/rc." $3 "." m); close(dir "/rc." $3 "." m)
			sub(/^secs=/, "", $5); print $5 > (dir "/secs." $3 "." m); close(dir "/secs." $3 "." m)
			tag = ""; next
		}
		tag != "" { print >> (dir "/tap." tag "." m) }
	' "$log/out.vm.$m"
	for s in "$@"; do
		tag=${s%%:*}
		[ -s "$log/rc.$tag.$m" ] || echo 97 >"$log/rc.$tag.$m"
		substage "  $tag (${s##*/}) --module $m" "$(cat "$log/secs.$tag.$m" 2>/dev/null || echo 0)"
		if grep -q '^not ok' "$log/tap.$tag.$m"; then
			echo "    failed in $tag --module $m:"
			grep -B3 -A6 '^not ok' "$log/tap.$tag.$m" | head -n 80 | sed 's/^/    | /'
		fi
	done
	sed 's/^/    /' "$log/err.vm.$m" | grep -v '^    $' | tail -n 40
}

# vm_verdict MOD WHAT: one result line for the VM run of vm_suites itself:
# it finished, no kernel report (also after the suites: kmemleak), the
# module unloaded.  The suites' own failures are counted by side_by_side.
vm_verdict() {
	local m=$1 rc
	rc=$(cat "$log/rc.vm.$m")
	if [ "$rc" = 0 ] || { [ "$rc" = 1 ] && ! grep -q -E 'kernel splat detected|did not finish|failed$' "$log/err.vm.$m"; }; then
		result ok "vm-run $2 --module $m: finished, no kernel splat, module unloaded"
	else
		result fail "vm-run $2 --module $m" "exit $rc (see the messages above)"
	fi
}

cases() { # cases PREFIX FILE: "PREFIXname PASS|FAIL" lines
	grep -E '^(not )?ok [0-9]+ ' "$2" | sed -E "s/^(not ok|ok) [0-9]+ ([^ #]+).*/$1\2 \1/" |
		sed 's/ not ok$/ FAIL/; s/ ok$/ PASS/'
}

side_by_side() {
	local title=$1 what=$2 m tag name c r rc
	shift 2
	for m in c rs; do
		for tag in "$@"; do
			if [ "$#" = 1 ] || [ "$tag" = dev ]; then cases "" "$log/tap.$tag.$m"
			else cases "$tag." "$log/tap.$tag.$m"; fi
		done | sort -u >"$log/$m.txt"
	done
	join -a1 -a2 -e MISSING -o 0,1.2,2.2 "$log/c.txt" "$log/rs.txt" >"$log/both.txt"
	printf '\n%-58s %-7s %-7s\n' "$title" "C" "Rust"
	while read -r name c r; do printf '%-58s %-7s %-7s\n' "$name" "$c" "$r"; done <"$log/both.txt"
	echo
	local total same=0
	total=$(wc -l <"$log/both.txt")
	while read -r name c r; do
		if [ "$c" = PASS ] && [ "$r" = PASS ]; then result ok "$what $name (C and Rust)"; same=$((same + 1))
		else result fail "$what $name" "C=$c Rust=$r"; fi
	done <"$log/both.txt"
	for m in c rs; do
		for tag in "$@"; do
			rc=$(cat "$log/rc.$tag.$m")
			if [ "$rc" = 0 ]; then result ok "vm-run $tag --module $m: exit 0, no kernel splat"
			else result fail "vm-run $tag --module $m" "exit $rc (test failure, splat or unload failure; see above)"; fi
		done
	done
	[ "$total" -gt 0 ] || result fail "$what: no results"
	echo "# $same of $total $what cases pass on both C cachefiles.ko and cachefiles_rs.ko"
}

build_9pfsc() {
	local ko rc=0
	if ko=$(scripts/netfs-9p "$variant" 2>"$log/netfs-9p"); then
		result ok "build: 9pfsc.ko ($ko)"
	else
		tail -n 30 "$log/netfs-9p"
		result fail "build: 9pfsc.ko (scripts/netfs-9p $variant)"
		rc=1
	fi
	stage "9pfsc.ko"
	return $rc
}
