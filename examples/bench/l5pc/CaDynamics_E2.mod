COMMENT
Calcium pool: a submembrane shell of depth `depth` holding a free fraction `gamma` of the calcium
that enters, removed towards minCai with time constant `decay`. Equations of CaDynamics_E2.mod of
Hay et al. (2011), ModelDB 139653. The (10000) turns (mA/cm2)/((C/mol)*um) into mM/ms.
ENDCOMMENT

NEURON {
    SUFFIX CaDynamics_E2
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
    gamma = 0.05 : fraction of free calcium
    decay = 80 (ms) : time constant of removal
    depth = 0.1 (um) : depth of the shell
    minCai = 1e-4 (mM) : resting concentration
}

ASSIGNED { ica (mA/cm2) }

STATE { cai (mM) }

BREAKPOINT { SOLVE states METHOD cnexp }

DERIVATIVE states {
    cai' = -(10000)*(ica*gamma/(2*FARADAY*depth)) - (cai - minCai)/decay
}
