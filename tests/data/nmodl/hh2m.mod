TITLE hh2m.mod   hh2 with instantaneous sodium activation

COMMENT
hh2.mod with the sodium activation at its steady state: BREAKPOINT reads the ASSIGNED minf,
which only the DERIVATIVE block (through rates) and INITIAL compute. NEURON's nrn_cur evaluates
the current at v + 0.001 and v with minf as stored by the last state update, so dI/dv does not
see minf's dependence on v. Written for Sylva's import tests.
ENDCOMMENT

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

NEURON {
    SUFFIX hh2m
    USEION na READ ena WRITE ina
    USEION k READ ek WRITE ik
    NONSPECIFIC_CURRENT il
    RANGE gnabar, gkbar, gl, el, gna, gk, minf
    GLOBAL hinf, ninf, htau, ntau
    THREADSAFE
}

PARAMETER {
    gnabar = .12 (S/cm2) <0,1e9>    : sodium peak conductance
    gkbar = .036 (S/cm2) <0,1e9>    : potassium peak conductance
    gl = .0003 (S/cm2) <0,1e9>      : leak conductance
    el = -54.3 (mV)                 : leak reversal
}

STATE {
    h n
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ena (mV)
    ek (mV)
    gna (S/cm2)
    gk (S/cm2)
    ina (mA/cm2)
    ik (mA/cm2)
    il (mA/cm2)
    minf hinf ninf
    htau (ms) ntau (ms)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gna = gnabar*minf*minf*minf*h
    ina = gna*(v - ena)
    gk = gkbar*n*n*n*n
    ik = gk*(v - ek)
    il = gl*(v - el)
}

INITIAL {
    rates(v)
    h = hinf
    n = ninf
}

DERIVATIVE states {
    rates(v)
    h' = (hinf - h)/htau
    n' = (ninf - n)/ntau
}

PROCEDURE rates(v (mV)) {  : computes minf, mtau etc. at the voltage v
    LOCAL alpha, beta, sum, q10
    UNITSOFF
    q10 = 3^((celsius - 6.3)/10)
    : sodium activation
    alpha = .1 * vtrap(-(v + 40), 10)
    beta = 4 * exp(-(v + 65)/18)
    minf = alpha/(alpha + beta)
    : sodium inactivation
    alpha = .07 * exp(-(v + 65)/20)
    beta = 1/(exp(-(v + 35)/10) + 1)
    sum = alpha + beta
    htau = 1/(q10*sum)
    hinf = alpha/sum
    : potassium activation
    alpha = .01*vtrap(-(v + 55), 10)
    beta = .125*exp(-(v + 65)/80)
    sum = alpha + beta
    ntau = 1/(q10*sum)
    ninf = alpha/sum
    UNITSON
}

FUNCTION vtrap(x, y) {  : x/(exp(x/y) - 1), guarded near x = 0
    if (fabs(x/y) < 1e-6) {
        vtrap = y*(1 - x/y/2)
    } else {
        vtrap = x/(exp(x/y) - 1)
    }
}
