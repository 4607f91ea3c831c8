TITLE tlike.mod   low-threshold current in the style of IT.mod (ModelDB 3343)

COMMENT
A T-type current whose conductance the state procedure computes: evaluate_fct, called only from
the DERIVATIVE block, sets m_inf and gt, and BREAKPOINT reads gt without computing it. INITIAL
does not call evaluate_fct, so the first step's current uses gt = 0, as NEURON leaves an ASSIGNED
variable before any block computes it. Written for Sylva's import tests.
ENDCOMMENT

NEURON {
    SUFFIX tlike
    NONSPECIFIC_CURRENT i
    RANGE gbar, erev, shift, m_inf, gt, h_inf, tau_h
    GLOBAL q10
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.002 (S/cm2)   : peak conductance
    erev = 120 (mV)        : reversal of the current
    shift = 2 (mV)         : shift of both gates
    q10 = 3                : Q10 of inactivation
}

STATE {
    h
}

ASSIGNED {
    v (mV)
    celsius (degC)
    i (mA/cm2)
    m_inf
    gt (S/cm2)
    h_inf
    tau_h (ms)
    phi_h
}

BREAKPOINT {
    SOLVE castate METHOD cnexp
    i = gt*h*(v - erev)
}

DERIVATIVE castate {
    evaluate_fct(v)
    h' = (h_inf - h)/tau_h
}

INITIAL {
    phi_h = q10^((celsius - 24)/10)
    h = 1
}

UNITSOFF
PROCEDURE evaluate_fct(v (mV)) {
    LOCAL Vm
    Vm = v + shift
    m_inf = 1.0/(1 + exp(-(Vm + 57)/6.2))
    gt = gbar*m_inf*m_inf
    h_inf = 1.0/(1 + exp((Vm + 81)/4.0))
    tau_h = 30.8 + (211.4 + exp((Vm + 113.2)/5))/(1 + exp((Vm + 84)/3.2))
    tau_h = tau_h/phi_h
}
UNITSON
