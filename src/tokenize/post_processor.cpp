#include "tokenize/post_processor.h"

#include <map>

namespace cornerstone::tokenize {

namespace {

class TemplateProcessing final : public PostProcessor {
 public:
  // `single`: a list of items, each either a run of special-token ids or the sequence ($A).
  struct Item {
    bool sequence;
    std::vector<int32_t> ids;
  };
  TemplateProcessing(std::vector<Item> single, OrderedJson json) : single_(std::move(single)), json_(std::move(json)) {}
  void process(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const auto& item : single_) {
      if (item.sequence) out.insert(out.end(), ids.begin(), ids.end());
      else out.insert(out.end(), item.ids.begin(), item.ids.end());
    }
    ids = std::move(out);
  }
  OrderedJson to_json() const override { return json_; }

 private:
  std::vector<Item> single_;
  OrderedJson json_;
};

class ByteLevelProcessing final : public PostProcessor {
 public:
  explicit ByteLevelProcessing(OrderedJson json) : json_(std::move(json)) {}
  void process(std::vector<int32_t>&) const override {}
  OrderedJson to_json() const override { return json_; }

 private:
  OrderedJson json_;
};

class Sequence final : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : parts_) p->process(ids);
  }
  OrderedJson to_json() const override {
    OrderedJson list = OrderedJson::array();
    for (const auto& p : parts_) list.push_back(p->to_json());
    return {{"type", "Sequence"}, {"processors", list}};
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// Converts the parsed JSON (std::map order) to the ordered kind we write back.
OrderedJson ordered(const Json& j) { return OrderedJson::parse(j.dump()); }

std::unique_ptr<PostProcessor> template_from_json(const Json& json, const std::string& path) {
  // special_tokens: {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}, ...}
  std::map<std::string, std::vector<int32_t>> specials;
  if (const Json* st = optional_field(json, "special_tokens", path)) {
    const std::string st_path = child_path(path, "special_tokens");
    for (const auto& [name, entry] : as_object(*st, st_path).items()) {
      const std::string entry_path = child_path(st_path, name);
      const std::string ids_path = child_path(entry_path, "ids");
      const Json& ids = as_array(field(entry, "ids", entry_path), ids_path);
      std::vector<int32_t> v;
      for (size_t i = 0; i < ids.size(); ++i) v.push_back(as_id(ids[i], index_path(ids_path, i)));
      specials[name] = std::move(v);
    }
  }
  const std::string single_path = child_path(path, "single");
  const Json& single = as_array(field(json, "single", path), single_path);
  std::vector<TemplateProcessing::Item> items;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string item_path = index_path(single_path, i);
    const Json& item = as_object(single[i], item_path);
    if (const Json* s = optional_field(item, "Sequence", item_path)) {
      const std::string id = get_string(*s, "id", child_path(item_path, "Sequence"));
      if (id != "A")
        fail(child_path(item_path, "Sequence.id"), "the single-sequence template can only refer to \"A\", got \"" + id + "\"");
      items.push_back({true, {}});
    } else if (const Json* t = optional_field(item, "SpecialToken", item_path)) {
      const std::string id = get_string(*t, "id", child_path(item_path, "SpecialToken"));
      auto it = specials.find(id);
      if (it == specials.end())
        fail(child_path(item_path, "SpecialToken.id"),
             "special token \"" + id + "\" is not listed in " + child_path(path, "special_tokens"));
      items.push_back({false, it->second});
    } else {
      fail(item_path, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  return std::make_unique<TemplateProcessing>(std::move(items), ordered(json));
}

// BertProcessing / RobertaProcessing: {"cls": ["[CLS]", 101], "sep": ["[SEP]", 102]}.
std::unique_ptr<PostProcessor> cls_sep_from_json(const Json& json, const std::string& path) {
  auto read = [&](const char* key) {
    const std::string p = child_path(path, key);
    const Json& pair = as_array(field(json, key, path), p);
    if (pair.size() != 2) fail(p, "expected [\"token\", id]");
    return std::make_pair(as_string(pair[0], index_path(p, 0)), as_id(pair[1], index_path(p, 1)));
  };
  const auto cls = read("cls");
  const auto sep = read("sep");
  std::vector<TemplateProcessing::Item> items = {{false, {cls.second}}, {true, {}}, {false, {sep.second}}};
  return std::make_unique<TemplateProcessing>(std::move(items), ordered(json));
}

}  // namespace

std::unique_ptr<PostProcessor> make_template_processor(const std::vector<std::pair<std::string, int32_t>>& prefix,
                                                       const std::vector<std::pair<std::string, int32_t>>& suffix) {
  std::vector<TemplateProcessing::Item> items;
  OrderedJson single = OrderedJson::array(), pair = OrderedJson::array();
  OrderedJson special_tokens = OrderedJson::object();
  auto add_special = [&](const std::pair<std::string, int32_t>& t, int type_id) {
    items.push_back({false, {t.second}});
    special_tokens[t.first] = {{"id", t.first}, {"ids", OrderedJson::array({t.second})}, {"tokens", OrderedJson::array({t.first})}};
    return OrderedJson{{"SpecialToken", {{"id", t.first}, {"type_id", type_id}}}};
  };
  for (const auto& t : prefix) single.push_back(add_special(t, 0));
  items.push_back({true, {}});
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  for (const auto& t : suffix) single.push_back(add_special(t, 0));
  // Pair template: prefix A suffix B suffix (BERT's layout).
  pair = single;
  pair.push_back({{"Sequence", {{"id", "B"}, {"type_id", 1}}}});
  for (const auto& t : suffix) pair.push_back({{"SpecialToken", {{"id", t.first}, {"type_id", 1}}}});
  OrderedJson json = {
      {"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", special_tokens}};
  return std::make_unique<TemplateProcessing>(std::move(items), std::move(json));
}

std::unique_ptr<PostProcessor> PostProcessor::from_json(const Json& json, const std::string& path) {
  const std::string type = component_type(json, path);
  if (type == "TemplateProcessing") return template_from_json(json, path);
  if (type == "BertProcessing" || type == "RobertaProcessing") return cls_sep_from_json(json, path);
  if (type == "ByteLevel") return std::make_unique<ByteLevelProcessing>(ordered(json));
  if (type == "Sequence") {
    const std::string list_path = child_path(path, "processors");
    const Json& list = as_array(field(json, "processors", path), list_path);
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < list.size(); ++i) parts.push_back(from_json(list[i], index_path(list_path, i)));
    return std::make_unique<Sequence>(std::move(parts));
  }
  unsupported_component(path, "post-processor", type,
                        "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence");
}

}  // namespace cornerstone::tokenize
