#include "cornerstone/adapt/task_type.h"

#include <algorithm>
#include <map>

#include "cornerstone/core/error.h"

namespace cornerstone::adapt {

namespace {

std::map<Task, std::unique_ptr<TaskType>>& registry() {
  static std::map<Task, std::unique_ptr<TaskType>> r;
  return r;
}

}  // namespace

TaskRegistration::TaskRegistration(std::unique_ptr<TaskType> type) {
  const Task t = type->info().task;
  registry()[t] = std::move(type);
}

const TaskType& task_type(Task t) {
  const auto it = registry().find(t);
  if (it == registry().end()) throw ValueError("task " + std::to_string(static_cast<int>(t)) + " is not registered");
  return *it->second;
}

const std::vector<TaskInfo>& task_infos() {
  static std::vector<TaskInfo> infos;  // tasks register during static initialisation; rebuilt if more came since
  if (infos.size() != registry().size()) {
    infos.clear();
    for (const auto& [t, type] : registry()) infos.push_back(type->info());  // in Task order
  }
  return infos;
}

const TaskInfo& task_info(Task t) {
  for (const auto& i : task_infos())
    if (i.task == t) return i;
  throw ValueError("task " + std::to_string(static_cast<int>(t)) + " is not registered");
}

void StepLog::mean(const std::string& key, double value, int64_t n) {
  auto& [sum, count] = means_[key];
  sum += value * static_cast<double>(n);
  count += n;
}

void StepLog::total(const std::string& key, double value) { totals_[key] += value; }

void StepLog::write(nlohmann::json& line, const std::string& pairs_prefix) {
  if (pairs.pairs > 0) {
    line[pairs_prefix + "chosen"] = pairs.chosen;
    line[pairs_prefix + "rejected"] = pairs.rejected;
    line[pairs_prefix + "accuracy"] = pairs.accuracy;
    line[pairs_prefix + "margin"] = pairs.margin;
  }
  for (const auto& [key, sc] : means_)
    if (sc.second > 0) line[key] = sc.first / static_cast<double>(sc.second);
  for (const auto& [key, v] : totals_) line[key] = v;
  *this = StepLog{};
}

EvalSet TaskType::read_eval(const TaskModel& m, const std::string& path, int64_t batch) const {
  EvalSet s;
  s.examples = read(m, path, /*training=*/false);
  prepare(m, s.examples, batch);
  return s;
}

TaskReport TaskType::evaluate_file(const TaskModel& m, const std::string& path, int64_t batch) const {
  return evaluate(m, read_eval(m, path, batch), batch);
}

}  // namespace cornerstone::adapt
