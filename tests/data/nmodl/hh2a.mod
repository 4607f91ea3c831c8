TITLE hh2a.mod   hh2 with the rates in arrays, in the style of hha2.mod (ModelDB 20212)

COMMENT
hh2.mod's equations written as the CA1 files of Poirazi et al. (2003) write theirs: the steady
states, time constants and update factors in ASSIGNED arrays filled by a FROM loop, a LOCAL
array, a FUNCTION that selects by index, `SOLVE states` of a PROCEDURE that advances the gates
by `x = x + fac*(inf - x)`, and an INITIAL that advances them once from NEURON's start value 0.
Written for Sylva's import tests.
ENDCOMMENT

NEURON {
    SUFFIX hh2a
    USEION na READ ena WRITE ina
    USEION k READ ek WRITE ik
    NONSPECIFIC_CURRENT il
    RANGE gnabar, gkbar, gl, el
    RANGE inf, fac, tau
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gnabar = .12 (S/cm2)
    gkbar = .036 (S/cm2)
    gl = .0003 (S/cm2)
    el = -54.3 (mV)
}

STATE {
    m h n
}

ASSIGNED {
    v (mV)
    celsius (degC)
    dt (ms)
    ena (mV)
    ek (mV)
    ina (mA/cm2)
    ik (mA/cm2)
    il (mA/cm2)
    inf[3]
    fac[3]
    tau[3] (ms)
}

BREAKPOINT {
    SOLVE states
    ina = gnabar*m*m*m*h*(v - ena)
    ik = gkbar*n*n*n*n*(v - ek)
    il = gl*(v - el)
}

INITIAL {
    states()
}

PROCEDURE states() {
    rates(v)
    m = m + fac[0]*(inf[0] - m)
    h = h + fac[1]*(inf[1] - h)
    n = n + fac[2]*(inf[2] - n)
    VERBATIM
    return 0;
    ENDVERBATIM
}

UNITSOFF
FUNCTION rate(v, i, j) {  : alpha (j = 0) or beta (j = 1) of gate i
    if (i == 0) {
        if (j == 0) { rate = .1*vtrap(-(v + 40), 10) } else { rate = 4*exp(-(v + 65)/18) }
    } else if (i == 1) {
        if (j == 0) { rate = .07*exp(-(v + 65)/20) } else { rate = 1/(exp(-(v + 35)/10) + 1) }
    } else {
        if (j == 0) { rate = .01*vtrap(-(v + 55), 10) } else { rate = .125*exp(-(v + 65)/80) }
    }
}

PROCEDURE rates(v (mV)) {
    LOCAL ab[2], q10
    q10 = 3^((celsius - 6.3)/10)
    FROM i = 0 TO 2 {
        FROM j = 0 TO 1 {
            ab[j] = rate(v, i, j)
        }
        tau[i] = 1/(q10*(ab[0] + ab[1]))
        inf[i] = ab[0]/(ab[0] + ab[1])
        fac[i] = 1 - exp(-dt/tau[i])
    }
}

FUNCTION vtrap(x, y) {
    if (fabs(x/y) < 1e-6) {
        vtrap = y*(1 - x/y/2)
    } else {
        vtrap = x/(exp(x/y) - 1)
    }
}
UNITSON
