# Shared shell helpers for scripts/ and .ci/run. Source it; do not execute it.
#
# Provides: REPO_ROOT, log/warn/die, run_privileged, timed_phase and
# phase_summary, file_digest.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT

log() {
    printf '==> %s\n' "$*" >&2
}

warn() {
    printf 'warning: %s\n' "$*" >&2
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Runs a command as root: directly when we are root, through non-interactive
# sudo otherwise. Never prompts.
run_privileged() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        die "need root for: $* (run as root or with password-less sudo)"
    fi
}

# sha256 over the named files (missing files count as empty), for stamps that
# tell whether an install step has to run again.
file_digest() {
    local f
    for f in "$@"; do
        printf '%s\n' "$f"
        cat "$f" 2>/dev/null || true
    done | sha256sum | cut -d' ' -f1
}

# timed_phase NAME CMD...: runs CMD, prints its wall time, records the result
# for phase_summary. Returns CMD's status so callers decide whether to go on.
PHASE_RESULTS=()
timed_phase() {
    local name="$1"
    shift
    local start end status
    start=$(date +%s)
    log "phase ${name}: start ($(date -u +%H:%M:%SZ))"
    set +e
    "$@"
    status=$?
    set -e
    end=$(date +%s)
    local verdict="ok"
    [ "$status" -eq 0 ] || verdict="FAILED (exit ${status})"
    log "phase ${name}: ${verdict} in $((end - start))s"
    PHASE_RESULTS+=("$(printf '%-10s %6ss  %s' "$name" "$((end - start))" "$verdict")")
    return "$status"
}

phase_summary() {
    local line
    log "phase summary:"
    for line in "${PHASE_RESULTS[@]}"; do
        printf '    %s\n' "$line" >&2
    done
}
