#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every public header (include/fda, detail/ excepted) compiles on its own, as the only
# include of a file, with each given compiler at -std=c++20 -Wall -Wextra -Werror: no
# header relies on another being included first, or on a warning-free accident of one
# compiler. An adapter's header gets its dependency's flags (Eigen, MPI, Thrust on the
# OpenMP back end); one whose dependency is missing here is reported and skipped.
# usage: headers_standalone.sh SOURCE_DIR THRUST_DIR "MPI_FLAGS" "TORCH_FLAGS|none" COMPILER...
set -uo pipefail
source_dir=$1 thrust_dir=$2 mpi_flags=$3 torch_flags=$4
shift 4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$source_dir/include" || exit 1
mapfile -t headers < <(find fda -name '*.hpp' -not -path 'fda/detail/*' | sort)
[ ${#headers[@]} -ge 40 ] || { echo "FAIL: only ${#headers[@]} public headers found"; exit 1; }
failed=0 checked=0
declare -A torch_compiles  # compiler -> yes/no: does LibTorch's own header compile with it
for cxx in "$@"; do
  for h in "${headers[@]}"; do
    flags=()
    case $h in
      fda/eigen.hpp) flags=(-isystem /usr/include/eigen3) ;;
      fda/mpi.hpp | fda/mpi/comm.hpp | fda/mpi/cluster.hpp) read -r -a flags <<<"$mpi_flags" ;;
      fda/torch.hpp | fda/torch/*)
        [ "$torch_flags" != none ] || { echo "skipped (no LibTorch): $h"; continue; }
        read -r -a flags <<<"$torch_flags"
        # LibTorch 1.13's own headers do not compile with clang++ 14 at -std=c++20 (libstdc++
        # 12's constexpr std::vector of the incomplete c10::IValue): nothing fda can fix.
        if [ "${torch_compiles[$cxx]:-}" = "" ]; then
          printf '#include <torch/torch.h>\nint main() {}\n' > "$work/torch.cpp"
          torch_compiles[$cxx]=yes
          "$cxx" -std=c++20 -fsyntax-only "${flags[@]}" "$work/torch.cpp" > /dev/null 2>&1 || torch_compiles[$cxx]=no
        fi
        if [ "${torch_compiles[$cxx]}" = no ]; then
          echo "skipped ($cxx cannot compile LibTorch's own <torch/torch.h> at -std=c++20): $h"
          continue
        fi ;;
      fda/zmq.hpp | fda/zmq/comm.hpp | fda/zmq/hub.hpp | fda/zmq/keys.hpp)  # (frame.hpp: the standard library only)
        if [ "${zmq_found:-}" = "" ]; then
          zmq_found=yes
          printf '#include <zmq.hpp>\nint main() {}\n' | "$cxx" -std=c++20 -fsyntax-only -x c++ - > /dev/null 2>&1 || zmq_found=no
        fi
        [ "$zmq_found" = yes ] || { echo "skipped (no cppzmq): $h"; continue; } ;;
      fda/thrust.hpp | fda/thrust/*)
        [ -n "$thrust_dir" ] || { echo "skipped (no Thrust): $h"; continue; }
        flags=(-fopenmp -DTHRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP)
        [ "$thrust_dir" = /usr/include ] || flags+=(-isystem "$thrust_dir") ;;
    esac
    printf '#include <%s>\nint main() {}\n' "$h" > "$work/one.cpp"
    if ! out=$("$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I"$source_dir/include" "${flags[@]}" \
               "$work/one.cpp" 2>&1); then
      echo "FAIL: $cxx: $h does not compile on its own:"
      head -n 15 <<<"$out"
      failed=$((failed + 1))
    fi
    checked=$((checked + 1))
  done
done
echo "headers_standalone: $checked compilations ($# compilers x ${#headers[@]} headers), $failed failed"
[ $failed -eq 0 ]
