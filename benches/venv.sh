# Sourced by the side-by-side benchmark scripts: the Python virtualenv their
# peers run in, shared by all of them (target/bench-venv).
#
# bench_venv CHECK PACKAGE...: reuses the virtualenv when `python -c CHECK`
# succeeds in it; otherwise creates it (if needed) and installs PACKAGE...
# Sets $venv and $py (its python).
bench_venv() {
    local check=$1
    shift
    venv=target/bench-venv
    py=$venv/bin/python
    if [ ! -x "$py" ] || ! "$py" -c "$check" 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "$@"
    fi
}
