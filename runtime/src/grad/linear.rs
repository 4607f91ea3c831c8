//! A trained linear readout layer: the logits of a softmax cross-entropy are V·z + c, z the
//! normalised readout ((r − threshold)/scale per probe), V (classes × probes, row-major) and c
//! trained with the model's parameters.

use super::GradError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearReadout {
    pub classes: usize,
    pub features: usize,
}

impl LinearReadout {
    /// Its trained values: V, then c.
    pub fn weights(&self) -> usize {
        self.classes * (self.features + 1)
    }

    /// The cross-entropy of `class` for features `z` and the map's `values`: the loss, its
    /// derivatives in z and in the values, and whether the largest logit is the class's.
    pub(super) fn cross_entropy(
        &self,
        values: &[f64],
        z: &[f64],
        class: usize,
    ) -> Result<(f64, Vec<f64>, Vec<f64>, bool), GradError> {
        if z.len() != self.features || values.len() != self.weights() || class >= self.classes {
            return Err(GradError::Loss(format!(
                "class {class} of a linear readout of {} classes from {} values ({} given)",
                self.classes,
                self.features,
                z.len()
            )));
        }
        let (v, c) = values.split_at(self.classes * self.features);
        let logits: Vec<f64> = (0..self.classes)
            .map(|k| c[k] + v[k * self.features..][..self.features].iter().zip(z).map(|(w, x)| w * x).sum::<f64>())
            .collect();
        let (loss, d_logits, correct) = softmax_cross_entropy(&logits, class);
        let mut d_values: Vec<f64> = d_logits.iter().flat_map(|d| z.iter().map(move |x| d * x)).collect();
        d_values.extend_from_slice(&d_logits);
        let d_z = (0..self.features)
            .map(|j| (0..self.classes).map(|k| v[k * self.features + j] * d_logits[k]).sum())
            .collect();
        Ok((loss, d_z, d_values, correct))
    }
}

/// −log softmax(logits)[class], without overflow; its derivative in each logit, softmaxₖ −
/// [k = class]; and whether the first largest logit is the class's.
pub(super) fn softmax_cross_entropy(logits: &[f64], class: usize) -> (f64, Vec<f64>, bool) {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logits.iter().map(|x| (x - max).exp()).sum();
    let loss = max + sum.ln() - logits[class];
    let d_logits =
        logits.iter().enumerate().map(|(k, x)| (x - max).exp() / sum - if k == class { 1.0 } else { 0.0 }).collect();
    let predicted = logits.iter().enumerate().fold(0, |best, (k, x)| if *x > logits[best] { k } else { best });
    (loss, d_logits, predicted == class)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every derivative of the layer's loss against central differences.
    #[test]
    fn derivatives_agree_with_central_differences() {
        let shape = LinearReadout { classes: 3, features: 2 };
        let values = [0.3, -0.2, 0.5, 0.1, -0.4, 0.7, 0.05, -0.1, 0.2];
        let z = [0.8, -1.3];
        let (_, d_z, d_values, _) = shape.cross_entropy(&values, &z, 1).unwrap();
        let loss = |values: &[f64], z: &[f64]| shape.cross_entropy(values, z, 1).unwrap().0;
        let h = 1e-6;
        for i in 0..values.len() {
            let (mut up, mut down) = (values, values);
            up[i] += h;
            down[i] -= h;
            let fd = (loss(&up, &z) - loss(&down, &z)) / (2.0 * h);
            assert!((fd - d_values[i]).abs() < 1e-8, "value {i}: {fd} vs {}", d_values[i]);
        }
        for j in 0..2 {
            let (mut up, mut down) = (z, z);
            up[j] += h;
            down[j] -= h;
            let fd = (loss(&values, &up) - loss(&values, &down)) / (2.0 * h);
            assert!((fd - d_z[j]).abs() < 1e-8, "feature {j}: {fd} vs {}", d_z[j]);
        }
        assert!(shape.cross_entropy(&values, &z, 3).is_err());
    }
}
