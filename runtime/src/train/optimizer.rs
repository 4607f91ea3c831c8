//! The optimisers, and the first-order ones' steps on the free values (`transform`): plain
//! gradient descent and Adam (Kingma & Ba, with bias correction). Deterministic: the same
//! gradients give the same steps. L-BFGS is `lbfgs`.

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Optimizer {
    Sgd {
        learning_rate: f64,
    },
    Adam {
        learning_rate: f64,
        beta1: f64,
        beta2: f64,
        epsilon: f64,
    },
    /// Fits to traces only: the checker refuses it with samples, whose batches change the loss
    /// from one step to the next.
    Lbfgs(super::lbfgs::Options),
}

/// L-BFGS where a first-order optimiser's steps were asked for (`State::new`).
#[derive(Debug)]
pub struct NotFirstOrder;

/// The optimisers [`State`] steps.
#[derive(Copy, Clone, Debug)]
enum FirstOrder {
    Sgd { learning_rate: f64 },
    Adam { learning_rate: f64, beta1: f64, beta2: f64, epsilon: f64 },
}

/// A first-order optimiser's memory between steps.
pub struct State {
    optimizer: FirstOrder,
    steps: i32,
    first: Vec<f64>,
    second: Vec<f64>,
}

impl State {
    /// The state of Adam or SGD over `n` values; L-BFGS has no steps of this kind (`lbfgs`).
    pub fn new(optimizer: Optimizer, n: usize) -> Result<State, NotFirstOrder> {
        let optimizer = match optimizer {
            Optimizer::Sgd { learning_rate } => FirstOrder::Sgd { learning_rate },
            Optimizer::Adam { learning_rate, beta1, beta2, epsilon } => {
                FirstOrder::Adam { learning_rate, beta1, beta2, epsilon }
            }
            Optimizer::Lbfgs(_) => return Err(NotFirstOrder),
        };
        Ok(State { optimizer, steps: 0, first: vec![0.0; n], second: vec![0.0; n] })
    }

    /// Moves `u` one step against `gradient` (∂L/∂u).
    pub fn step(&mut self, u: &mut [f64], gradient: &[f64]) {
        self.steps += 1;
        match self.optimizer {
            FirstOrder::Sgd { learning_rate } => {
                for (x, g) in u.iter_mut().zip(gradient) {
                    *x -= learning_rate * g;
                }
            }
            FirstOrder::Adam { learning_rate, beta1, beta2, epsilon } => {
                let c1 = 1.0 - beta1.powi(self.steps);
                let c2 = 1.0 - beta2.powi(self.steps);
                for i in 0..u.len() {
                    let g = gradient[i];
                    self.first[i] = beta1 * self.first[i] + (1.0 - beta1) * g;
                    self.second[i] = beta2 * self.second[i] + (1.0 - beta2) * g * g;
                    let m = self.first[i] / c1;
                    let v = self.second[i] / c2;
                    u[i] -= learning_rate * m / (v.sqrt() + epsilon);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_and_sgd_minimise_a_quadratic() {
        let adam = Optimizer::Adam { learning_rate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
        for optimizer in [Optimizer::Sgd { learning_rate: 0.1 }, adam] {
            let target = [3.0, -2.0];
            let mut u = vec![0.0, 0.0];
            let mut state = State::new(optimizer, 2).unwrap();
            for _ in 0..500 {
                let gradient: Vec<f64> = u.iter().zip(target).map(|(x, t)| 2.0 * (x - t)).collect();
                state.step(&mut u, &gradient);
            }
            assert!(u.iter().zip(target).all(|(x, t)| (x - t).abs() < 1e-3), "{optimizer:?}: {u:?}");
        }
    }

    #[test]
    fn lbfgs_has_no_first_order_state() {
        let lbfgs = super::super::lbfgs::Options { memory: 4, gradient_tolerance: 0.0, loss_tolerance: 0.0 };
        assert!(State::new(Optimizer::Lbfgs(lbfgs), 2).is_err());
        assert!(State::new(Optimizer::Sgd { learning_rate: 0.1 }, 2).is_ok());
    }

    #[test]
    fn the_first_adam_step_is_the_learning_rate_in_every_coordinate() {
        // Bias-corrected: m/√v = g/|g| on the first step, whatever the gradient's scale.
        let mut state =
            State::new(Optimizer::Adam { learning_rate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 0.0 }, 2).unwrap();
        let mut u = vec![1.0, 1.0];
        state.step(&mut u, &[1e-9, -1e9]);
        assert!((u[0] - 0.99).abs() < 1e-15 && (u[1] - 1.01).abs() < 1e-15, "{u:?}");
    }
}
