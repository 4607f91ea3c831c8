COMMENT
Intracellular calcium in a thin submembrane shell, free fraction gamma, first-order removal
towards minCai. Equations of CaDynamics_E2.mod of Hay, Hill, Schuermann, Markram & Segev (2011),
PLoS Comput Biol 7:e1002107 (ModelDB 139653), as used in the Blue Brain Project models:

    cai' = -(10000) * ica * gamma / (2 * FARADAY * depth) - (cai - minCai) / decay

The factor 10000 converts (mA/cm2) / ((C/mol) * um) into mM/ms. Written for Sylva's reference
data (tests/data/neuron/regenerate_channels.py); Sylva's version is compiler/stdlib/cadyn.syl.
cad_implicit is CaDynamics_E2.mod with `METHOD derivimplicit` in place of cnexp, for the import
tests of derivimplicit (as many ModelDB calcium pools are solved).
ENDCOMMENT

NEURON {
    SUFFIX cad_implicit
    USEION ca READ ica WRITE cai
    RANGE decay, gamma, minCai, depth
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    FARADAY = (faraday) (coulombs)
    (molar) = (1/liter)
    (mM) = (millimolar)
    (um) = (micron)
}

PARAMETER {
    gamma = 0.05        : fraction of free (unbuffered) calcium
    decay = 80 (ms)     : time constant of removal
    depth = 0.1 (um)    : thickness of the shell
    minCai = 1e-4 (mM)  : resting concentration
}

ASSIGNED { ica (mA/cm2) }

STATE { cai (mM) }

BREAKPOINT { SOLVE states METHOD derivimplicit }

DERIVATIVE states {
    cai' = -(10000)*(ica*gamma/(2*FARADAY*depth)) - (cai - minCai)/decay
}
