#!/usr/bin/env bash
# Mutation testing of the numerics with cargo-mutants; docs/testing.md records the results and
# why each surviving mutant survives. Not part of CI: every mutant rebuilds the crates it
# touches and runs the tests that guard them (20 s to 2 min each on 2 cores).
#
#   tests/mutants/run.sh                 every group below, one after the other
#   tests/mutants/run.sh compiler        one group (compiler | morph | runtime)
#   MUTANTS_ARGS="--in-diff x.diff" tests/mutants/run.sh      only mutants in changed lines
#   MUTANTS_ARGS="-F nernst" tests/mutants/run.sh runtime     only functions matching a regex
#
# Install once: cargo install cargo-mutants --locked. It works in place (no copy of the tree,
# so the incremental build is reused): run it in a clean checkout or worktree that nothing else
# edits; it restores each file after its mutant. Results: mutants.out/<group>/ (caught.txt,
# missed.txt, timeout.txt, unviable.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck disable=SC2086
run_group() {
    local group=$1
    shift
    mkdir -p "mutants.out/$group"
    cargo mutants --in-place --no-shuffle --output "mutants.out/$group" ${MUTANTS_ARGS:-} "$@"
}

compiler() {
    # The expression numerics (Sylva's own exp, shared by folding, the interpreter and the
    # JIT), guarded by the compiler's unit tests of the IR.
    run_group compiler --file compiler/src/ir/math.rs --test-package sylva-compiler -- -- ir::
}

morph() {
    # NEURON's discretization (areas, axial resistances, d_lambda, distances), guarded by the
    # compiler's unit tests of the morphology against NEURON's figures.
    run_group morph --file compiler/src/morph/cable.rs --test-package sylva-compiler -- -- morph::
}

runtime() {
    # Model → arrays (cable coefficients, Nernst, probe scales, species) and the step schedule
    # with the Hines solve, guarded by the CPU engine's unit tests and the integration tests
    # that run simulations: against NEURON, the tutorials and the network statistics. Not run:
    # the minute-long interpreter-vs-JIT comparison (the interpreter is not in this group) and
    # the CLI tests (3 minutes a mutant). cargo-mutants' baseline always tests only the mutated
    # package, without the integration tests named here, so it is skipped, with a fixed timeout.
    run_group runtime --file runtime/src/cpu/build.rs --file runtime/src/cpu/engine.rs \
        --baseline=skip --timeout 300 --test-workspace=true \
        -- --lib --test it -- fidelity tutorials network cpu:: --skip interpreter_and_jit
}

groups=("$@")
[[ ${#groups[@]} -eq 0 ]] && groups=(compiler morph runtime)
for group in "${groups[@]}"; do
    case $group in
        compiler | morph | runtime) "$group" ;;
        *) echo "unknown group $group (compiler | morph | runtime)" >&2; exit 2 ;;
    esac
done
