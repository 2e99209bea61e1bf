#include "cornerstone/train/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cornerstone/core/error.h"

namespace cornerstone::train {

LossCurves read_metrics(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("cannot open '" + path + "' (has the run logged any step yet?)");
  LossCurves c;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(path + ":" + std::to_string(line_no) + ": not valid JSON");
    }
    if (!j.contains("step") || !j["step"].is_number()) throw FormatError(path + ":" + std::to_string(line_no) + ": no \"step\"");
    const double step = j["step"].get<double>();
    if (j.contains("loss") && j["loss"].is_number()) c.train.push_back({step, j["loss"].get<double>()});
    if (j.contains("val_loss") && j["val_loss"].is_number()) c.val.push_back({step, j["val_loss"].get<double>()});
  }
  return c;
}

namespace {

// 1, 2, 5 x 10^k steps giving about `target` ticks over [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target) {
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(v);
  return t;
}

std::string fmt(double v) {
  char b[32];
  if (std::fabs(v) >= 1000) std::snprintf(b, sizeof b, "%.0fk", v / 1000);
  else if (std::fabs(v - std::round(v)) < 1e-9) std::snprintf(b, sizeof b, "%.0f", v);
  else std::snprintf(b, sizeof b, "%.2g", v);
  return b;
}

}  // namespace

std::string render_loss_svg(const LossCurves& c, const std::string& title) {
  const double W = 820, H = 480, L = 70, R = 30, T = 50, B = 60;
  const double pw = W - L - R, ph = H - T - B;
  double x0 = 0, x1 = 1, y0 = 1e30, y1 = -1e30;
  for (const auto* v : {&c.train, &c.val})
    for (const auto& p : *v) {
      x1 = std::max(x1, p.step);
      y0 = std::min(y0, p.loss);
      y1 = std::max(y1, p.loss);
    }
  if (y0 > y1) y0 = 0, y1 = 1;
  // Start the y axis just below the minimum; cap the top so an initial spike does not flatten
  // the interesting part (the first point is usually ln(vocab)).
  const double pad = 0.05 * (y1 - y0 + 1e-9);
  y0 -= pad, y1 += pad;
  auto X = [&](double s) { return L + (s - x0) / (x1 - x0) * pw; };
  auto Y = [&](double l) { return T + (1 - (l - y0) / (y1 - y0)) * ph; };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H
    << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << L << "\" y=\"28\" font-size=\"16\" font-weight=\"bold\" fill=\"#222\">" << title << "</text>\n";
  for (double t : nice_ticks(y0, y1, 6)) {
    o << "<line x1=\"" << L << "\" x2=\"" << L + pw << "\" y1=\"" << Y(t) << "\" y2=\"" << Y(t)
      << "\" stroke=\"#e5e5e5\"/>\n<text x=\"" << L - 8 << "\" y=\"" << Y(t) + 4 << "\" text-anchor=\"end\" fill=\"#555\">"
      << fmt(t) << "</text>\n";
  }
  for (double t : nice_ticks(x0, x1, 8)) {
    o << "<line x1=\"" << X(t) << "\" x2=\"" << X(t) << "\" y1=\"" << T << "\" y2=\"" << T + ph
      << "\" stroke=\"#f0f0f0\"/>\n<text x=\"" << X(t) << "\" y=\"" << T + ph + 18 << "\" text-anchor=\"middle\" fill=\"#555\">"
      << fmt(t) << "</text>\n";
  }
  o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << pw << "\" height=\"" << ph << "\" fill=\"none\" stroke=\"#999\"/>\n"
    << "<text x=\"" << L + pw / 2 << "\" y=\"" << H - 18 << "\" text-anchor=\"middle\" fill=\"#333\">step</text>\n"
    << "<text transform=\"translate(18 " << T + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\" fill=\"#333\">"
    << "cross-entropy loss (nats/token)</text>\n";

  auto path = [&](const std::vector<LossPoint>& pts, const std::string& style) {
    if (pts.empty()) return;
    o << "<polyline fill=\"none\" " << style << " points=\"";
    for (const auto& p : pts) o << X(p.step) << "," << Y(p.loss) << " ";
    o << "\"/>\n";
  };
  path(c.train, "stroke=\"#9ecae1\" stroke-width=\"1\"");
  std::vector<LossPoint> smooth;  // exponential moving average, debiased
  double ema = 0, w = 0;
  // A window of about 2% of the run: smooth enough to read, short enough not to lag the curve.
  const double beta = 1.0 - 1.0 / std::max(2.0, static_cast<double>(c.train.size()) / 50.0);
  for (const auto& p : c.train) {
    ema = beta * ema + (1 - beta) * p.loss;
    w = beta * w + (1 - beta);
    smooth.push_back({p.step, ema / w});
  }
  path(smooth, "stroke=\"#1f77b4\" stroke-width=\"2\"");
  path(c.val, "stroke=\"#d62728\" stroke-width=\"2\"");
  for (const auto& p : c.val) o << "<circle cx=\"" << X(p.step) << "\" cy=\"" << Y(p.loss) << "\" r=\"3\" fill=\"#d62728\"/>\n";

  const double lx = L + pw - 190, ly = T + 14;
  char last[96] = "";
  o << "<rect x=\"" << lx - 10 << "\" y=\"" << ly - 12 << "\" width=\"195\" height=\"" << (c.val.empty() ? 24 : 44)
    << "\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#ccc\"/>\n";
  if (!smooth.empty()) std::snprintf(last, sizeof last, "train (smoothed) %.3f", smooth.back().loss);
  o << "<line x1=\"" << lx << "\" x2=\"" << lx + 20 << "\" y1=\"" << ly - 4 << "\" y2=\"" << ly - 4
    << "\" stroke=\"#1f77b4\" stroke-width=\"2\"/><text x=\"" << lx + 26 << "\" y=\"" << ly << "\">" << last << "</text>\n";
  if (!c.val.empty()) {
    std::snprintf(last, sizeof last, "validation %.3f", c.val.back().loss);
    o << "<line x1=\"" << lx << "\" x2=\"" << lx + 20 << "\" y1=\"" << ly + 16 << "\" y2=\"" << ly + 16
      << "\" stroke=\"#d62728\" stroke-width=\"2\"/><text x=\"" << lx + 26 << "\" y=\"" << ly + 20 << "\">" << last
      << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace cornerstone::train
