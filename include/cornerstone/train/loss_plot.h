// Loss curves as SVG: training loss (raw, faint, and smoothed) and validation loss against steps,
// with nice axis ticks, a legend and the final values. Reads RUN/metrics.jsonl.
#pragma once

#include <string>
#include <vector>

namespace cornerstone::train {

struct LossPoint {
  double step;
  double loss;
};

struct LossCurves {
  std::vector<LossPoint> train;
  std::vector<LossPoint> val;
};

// Reads the metrics file (one JSON object per line with "step", "loss", optional "val_loss").
// Throws IOError / FormatError naming the file and line.
LossCurves read_metrics(const std::string& metrics_jsonl);

std::string render_loss_svg(const LossCurves& curves, const std::string& title);

}  // namespace cornerstone::train
