#!/usr/bin/env bash
# Regenerates corr/normalise/syscall_table.py from the kernel headers of
# Debian's linux-libc-dev.  The committed table is what corr uses at run time.
set -euo pipefail
out=corr/normalise/syscall_table.py
{
echo '"""Linux x86_64 system call numbers, for perf'"'"'s ``raw_syscalls`` events.'
echo ''
echo 'Generated once from linux-libc-dev'"'"'s ``asm/unistd_64.h`` (a machine that'
echo 'reads traces need not have kernel headers); see ``scripts/gen_syscalls.sh``.'
echo '"""'
echo ''
echo 'X86_64: dict[int, str] = {'
grep -E "^#define __NR_[a-z0-9_]+ [0-9]+" /usr/include/x86_64-linux-gnu/asm/unistd_64.h | awk '{sub("__NR_","",$2); printf "    %s: \"%s\",\n", $3, $2}'
echo '}'
echo ''
echo '# aarch64 and other asm-generic architectures share one table.'
echo 'GENERIC: dict[int, str] = {'
grep -E "^#define __NR(3264)?_[a-z0-9_]+ [0-9]+$" /usr/include/asm-generic/unistd.h | awk '{n=$2; sub("__NR3264_","",n); sub("__NR_","",n); printf "    %s: \"%s\",\n", $3, n}' | sort -t: -k1,1n -u
echo '}'
} > "$out"
