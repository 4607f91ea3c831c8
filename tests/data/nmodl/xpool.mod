TITLE xpool.mod   the pool of a divalent ion x

COMMENT
USEION x with VALENCE 2, written inside: NEURON defines the ion x with its defaults for a new
ion (xi = xo = 1 mM) and, since xi is written, computes ex by the Nernst equation with charge 2
at every step. The current of x (xchan.mod) changes xi, which changes ex. Written for Sylva's
import tests.
ENDCOMMENT

NEURON {
    SUFFIX xpool
    USEION x READ ix, xo WRITE xi VALENCE 2
    RANGE depth, tau
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
    (mM) = (milli/liter)
    (um) = (micron)
    FARADAY = (faraday) (coulomb)
}

PARAMETER {
    depth = 0.1 (um)      : depth of the shell
    tau = 50 (ms)         : decay towards xo/2
}

STATE {
    xi (mM)
}

ASSIGNED {
    v (mV)
    xo (mM)
    ix (mA/cm2)
}

BREAKPOINT {
    SOLVE pool METHOD cnexp
}

INITIAL {
    xi = xo
}

DERIVATIVE pool {
    xi' = -(10000)*ix/(2*FARADAY*depth) - (xi - xo/2)/tau
}
