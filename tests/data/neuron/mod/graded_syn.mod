COMMENT
A graded (continuous) synapse in the form Jaxley uses (its IonotropicSynapse family): the open
fraction s of the synaptic channels follows the presynaptic voltage, read through a POINTER,
without spikes or NetCons:

    s' = alpha * (1 - s) * sigmoid((vpre - v_th) / delta) - beta * s,  sigmoid(x) = 1/(1 + e^-x)
    i = g * s * (v - e)

In NEURON's fixed step the current is computed with vpre at the start of the step (all currents
before the solve) and s advances with cnexp after the solve, reading the new vpre. Written for
Sylva's reference data (tests/data/neuron/regenerate_channels.py); Sylva's version is
compiler/stdlib/graded_syn.syl.
ENDCOMMENT

NEURON {
    POINT_PROCESS GradedSyn
    POINTER vpre
    NONSPECIFIC_CURRENT i
    RANGE g, e, alpha, beta, v_th, delta
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    g = 0.01 (uS)
    e = 0 (mV)
    alpha = 1 (/ms)
    beta = 0.1 (/ms)
    v_th = -35 (mV)
    delta = 5 (mV)
}

ASSIGNED {
    v (mV)
    vpre (mV)
    i (nA)
}

STATE { s }

INITIAL { s = 0 }

BREAKPOINT {
    SOLVE states METHOD cnexp
    i = g * s * (v - e)
}

DERIVATIVE states {
    s' = alpha * (1 - s) / (1 + exp(-(vpre - v_th) / delta)) - beta * s
}
