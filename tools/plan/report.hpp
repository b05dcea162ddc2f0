// Output formats for plans and recommendations: a readable table, JSON, Markdown, and a self-contained
// HTML report with SVG charts.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "planner.hpp"
#include "recommend.hpp"

namespace loom::plan {

nlohmann::json toJson(const PlanResult& r);
nlohmann::json toJson(const Recommendation& rec, int top);

std::string toText(const PlanResult& r);
std::string toMarkdown(const PlanResult& r);
std::string toText(const Recommendation& rec, int top);
std::string toMarkdown(const Recommendation& rec, int top);

std::string toHtml(const PlanResult& r);
std::string toHtml(const Recommendation& rec, int top);

// Human formatting shared by the formats.
std::string formatDuration(double seconds);
std::string formatCount(double n);  // 6.74B, 20.0M
std::string formatMoney(double usd);

}  // namespace loom::plan
