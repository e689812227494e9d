#!/usr/bin/env bash
# Installs the Debian packages corr needs, only those that are missing.
# Idempotent: when everything is present it prints nothing and exits at once.
set -euo pipefail
packages=(python3-bt2 babeltrace2 lttng-tools liblttng-ust-dev linux-perf gcc make
          libbabeltrace2-dev python3-dev
          python3-lttnganalyses    # lttng-analyses: the reference of tests/test_rules_vs_tools.py
          tmux                     # drives corr tune --interactive in tests/test_tune_interactive.py
          graphviz                 # dot parses the DOT export (tests/test_escaping.py)
          chromium                 # headless: the HTML report (tests/test_html_report.py) and
          nodejs)                  # speedscope opening the exports (tests/test_exports_in_viewer.py)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's nodejs comes without npm (a package of its own); other builds of
# nodejs (NodeSource) include it and conflict with that package.
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "corr: installing Debian packages: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists: update them first.
if ! $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${missing[@]}"
fi
