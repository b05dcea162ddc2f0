// Self-contained HTML report: inline CSS and SVG charts, no scripts or external resources, so it opens
// from disk in any browser. Charts: memory breakdown per option as stacked bars against the GPU's memory,
// step time per option split into compute, communication and offload, and cost per option.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "report.hpp"

namespace loom::plan {

namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

const std::map<std::string, std::string> kColours{
    {"weights", "#4e79a7"},   {"quant_constants", "#a0cbe8"}, {"gradients", "#f28e2b"},
    {"optimizer", "#e15759"}, {"activations", "#59a14f"},     {"logits", "#8cd17d"},
    {"temporary", "#b6992d"}, {"context", "#79706e"},         {"fragmentation", "#bab0ac"},
    {"compute", "#4e79a7"},   {"bubble", "#a0cbe8"},          {"network", "#e15759"},
    {"offload", "#f28e2b"},   {"cost", "#59a14f"}};

struct Segment {
  std::string key, label;
  double value;
};
struct Bar {
  std::string label;
  std::vector<Segment> segments;
  double marker = -1;  // e.g. GPU memory
  std::string valueText;
};

constexpr int kWidth = 1150, kLabelW = 400, kRowH = 26, kTop = 34, kValueW = 230;

std::string chart(const std::string& id, const std::string& title, const std::vector<Bar>& bars,
                  const std::string& unit) {
  double maxV = 0;
  for (const auto& b : bars) {
    double sum = 0;
    for (const auto& s : b.segments) sum += s.value;
    maxV = std::max({maxV, sum, b.marker});
  }
  if (maxV <= 0) maxV = 1;
  const int plotW = kWidth - kLabelW - kValueW;
  std::vector<std::pair<std::string, std::string>> legend;
  // Legend entries in order of first appearance, wrapped into rows.
  for (const auto& b : bars)
    for (const auto& s : b.segments) {
      auto it = kColours.find(s.key);
      if (s.value > 0 && std::none_of(legend.begin(), legend.end(), [&](const auto& l) { return l.first == s.label; }))
        legend.push_back({s.label, it == kColours.end() ? "#999999" : it->second});
    }
  int legendRows = 1;
  for (int lx = 0; const auto& l : legend) {
    const int w = 24 + int(l.first.size()) * 7;
    if (lx + w > kWidth) ++legendRows, lx = 0;
    lx += w;
  }
  const int height = kTop + int(bars.size()) * kRowH + 20 * legendRows + 24;
  std::string svg = fmt::format(
      "<svg id=\"{}\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">\n<text x=\"0\" y=\"18\" class=\"title\">{}</text>\n",
      id, kWidth, height, kWidth, height, esc(title), esc(title));
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const int y = kTop + int(i) * kRowH;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" class=\"label\" text-anchor=\"end\">{}</text>\n", kLabelW - 8, y + 16,
                       esc(b.label));
    double x = kLabelW;
    for (const auto& s : b.segments) {
      if (s.value <= 0) continue;
      const double w = s.value / maxV * plotW;
      auto it = kColours.find(s.key);
      const std::string colour = it == kColours.end() ? "#999999" : it->second;
      svg += fmt::format("<rect x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"><title>{}: {:.3g} {}"
                         "</title></rect>\n",
                         x, y + 3, std::max(w, 0.5), kRowH - 8, colour, esc(s.label), s.value, unit);
      x += w;
    }
    if (b.marker > 0) {
      const double mx = kLabelW + b.marker / maxV * plotW;
      svg += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{}\" y2=\"{}\" class=\"marker\"/>\n", mx, mx, y,
                         y + kRowH);
    }
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"value\">{}</text>\n", std::max(x, b.marker > 0 ?
                       kLabelW + b.marker / maxV * plotW : x) + 6, y + 16, esc(b.valueText));
  }
  int lx = 0, ly = kTop + int(bars.size()) * kRowH + 18;
  for (const auto& [label, colour] : legend) {
    if (lx + 24 + int(label.size()) * 7 > kWidth) lx = 0, ly += 20;
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" "
                       "class=\"legend\">{}</text>\n",
                       lx, ly - 10, colour, lx + 16, ly, esc(label));
    lx += 24 + int(label.size()) * 7;
  }
  return svg + "</svg>\n";
}

Bar memoryBar(const PlanResult& r, const std::string& label) {
  Bar b{label, {}, r.memory.capacity / kGiB, ""};
  for (const auto& i : r.memory.items) b.segments.push_back({i.key, i.label, i.bytes / kGiB});
  b.valueText = fmt::format("{:.1f} / {:.0f} GiB{}", r.memory.total / kGiB, r.memory.capacity / kGiB,
                            r.memory.fits ? "" : " (does not fit)");
  return b;
}

Bar timeBar(const PlanResult& r, const std::string& label) {
  const StepTime& t = r.time;
  Bar b{label,
        {{"compute", "compute", t.compute},
         {"bubble", "pipeline bubble", t.bubble},
         {"network", "exposed communication", t.dpExposed + t.tpComm + t.ppComm},
         {"offload", "offload and paging", t.offload + t.pagedSpill}},
        -1,
        ""};
  b.valueText = r.steps > 0 ? fmt::format("{} per step, {} total", formatDuration(t.step), formatDuration(r.totalSeconds))
                            : fmt::format("{} per step", formatDuration(t.step));
  return b;
}

Bar costBar(const PlanResult& r, const std::string& label) {
  const double v = costKey(r);
  return Bar{label, {{"cost", r.steps > 0 ? "cost (USD)" : "USD per million tokens", v}}, -1,
             r.steps > 0 ? formatMoney(v) : fmt::format("${:.3f}/Mtok", v)};
}

std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + esc(title) +
         "</title>\n<style>\n"
         "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;background:#fff}\n"
         "h1{font-size:22px} h2{font-size:18px;margin-top:28px}\n"
         "table{border-collapse:collapse;margin:8px 0;font-size:13px} td,th{border:1px solid #ddd;padding:3px 8px;"
         "text-align:left} th{background:#f3f3f3} td.num{text-align:right}\n"
         ".chart text{font-size:12px;fill:#222} .chart .title{font-size:15px;font-weight:600}\n"
         ".chart .marker{stroke:#000;stroke-width:2;stroke-dasharray:4 2} .fit{color:#1a7f37;font-weight:600}"
         " .nofit{color:#c62828;font-weight:600} .note{color:#555;font-size:13px}\n"
         "</style></head><body>\n" +
         body + "</body></html>\n";
}

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::string out = "<table>\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    out += "<tr>";
    for (const auto& c : rows[i]) out += (i == 0 ? "<th>" : "<td>") + esc(c) + (i == 0 ? "</th>" : "</td>");
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

}  // namespace

std::string toHtml(const PlanResult& r) {
  const PlanInput& in = r.input;
  std::string body = fmt::format("<h1>loom plan: {} on {}x {}</h1>\n", esc(in.model.name), in.cluster.totalGpus(),
                                 esc(in.cluster.gpu.name));
  body += fmt::format("<p>{} fine-tuning, precision {}, optimizer {}, sharding {}, recompute {}, micro-batch {} x {} "
                      "tokens, grad-accum {}. <span class=\"{}\">{}</span></p>\n",
                      toString(in.method), toString(in.precision), toString(in.optimizer), toString(in.sharding),
                      toString(in.recompute), in.microBatch, in.seqLen, in.gradAccum, r.memory.fits ? "fit" : "nofit",
                      r.memory.fits ? "Fits." : "Does not fit.");
  const std::string label = optionLabel(in);
  body += chart("memory", "Memory per GPU (GiB); dashed line: GPU memory", {memoryBar(r, label)}, "GiB");
  body += chart("time", "Step time (s)", {timeBar(r, label)}, "s");
  std::vector<std::vector<std::string>> rows{{"item", "GiB", "how"}};
  for (const auto& i : r.memory.items) rows.push_back({i.label, fmt::format("{:.2f}", i.bytes / kGiB), i.detail});
  rows.push_back({"total", fmt::format("{:.2f}", r.memory.total / kGiB), r.memory.peakPhase});
  body += "<h2>Memory per GPU</h2>\n" + table(rows);
  const StepTime& t = r.time;
  body += "<h2>Time and cost</h2>\n" +
          table({{"quantity", "value"},
                 {"compute per step", formatDuration(t.compute)},
                 {"exposed communication per step", formatDuration(t.dpExposed + t.tpComm + t.ppComm)},
                 {"step", formatDuration(t.step)},
                 {"network share", fmt::format("{:.1f}%", 100 * t.networkShare)},
                 {"tokens per second", fmt::format("{:.0f}", r.tokensPerSecond)},
                 {"time to finish", formatDuration(r.totalSeconds)},
                 {"GPU-hours", fmt::format("{:.1f}", r.gpuHours)},
                 {"cost", formatMoney(r.costUsd)}});
  for (const auto& n : r.notes) body += "<p class=\"note\">" + esc(n) + "</p>\n";
  return page("loom plan: " + in.model.name, body);
}

std::string toHtml(const Recommendation& rec, int top) {
  const PlanInput& in = rec.base;
  std::string body = fmt::format("<h1>loom plan recommend: {}, {}</h1>\n", esc(in.model.name), toString(in.method));
  body += fmt::format("<p>{} configurations evaluated, {} fit. Micro-batch {} x {} tokens, grad-accum {}, precision "
                      "{}, optimizer {}.</p>\n",
                      rec.evaluated, rec.fitting.size(), in.microBatch, in.seqLen, in.gradAccum, toString(in.precision),
                      toString(in.optimizer));
  std::vector<Bar> mem, time, cost;
  for (size_t k = 0; k < rec.byCost.size() && (top <= 0 || int(k) < top); ++k) {
    const PlanResult& r = rec.fitting[rec.byCost[k]];
    const std::string label = fmt::format("{}. {}", k + 1, optionLabel(r.input));
    mem.push_back(memoryBar(r, label));
    time.push_back(timeBar(r, label));
    cost.push_back(costBar(r, label));
  }
  if (mem.empty()) {
    body += "<p class=\"nofit\">No catalog configuration fits.</p>\n";
  } else {
    body += chart("memory", "Memory per GPU by option, cheapest first (GiB; dashed: GPU memory)", mem, "GiB");
    body += chart("time", "Step time by option (s)", time, "s");
    body += chart("cost", "Cost by option", cost, "USD");
  }
  std::vector<std::vector<std::string>> rows{{"GPU", "fitting", "verdict"}};
  for (const auto& v : rec.verdicts) rows.push_back({v.gpu, std::to_string(v.fitting), v.summary});
  body += "<h2>Per GPU type</h2>\n" + table(rows);
  return page("loom plan recommend: " + in.model.name, body);
}

}  // namespace loom::plan
