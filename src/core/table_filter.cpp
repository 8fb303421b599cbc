#include "bemi/table_filter.hpp"

#include <stdexcept>

namespace bemi {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Splits one item at its first unescaped dot. Escapes other than "\*" and "\\" are resolved
// here, so the halves are glob patterns in which only '*', "\*" and "\\" are special.
TablePattern parse_item(std::string_view item) {
    TablePattern p;
    std::string *part = &p.schema;
    bool seen_dot = false;
    for (size_t i = 0; i < item.size(); ++i) {
        char c = item[i];
        if (c == '\\') {
            if (i + 1 == item.size())
                throw std::invalid_argument("pattern \"" + std::string(item) + "\" ends with a lone backslash");
            char next = item[++i];
            if (next == '*' || next == '\\') {
                part->push_back('\\'); // glob_match reads "\x" as a literal x
                part->push_back(next);
            } else
                part->push_back(next);
        } else if (c == '.' && !seen_dot) {
            seen_dot = true;
            part = &p.table;
        } else {
            part->push_back(c);
        }
    }
    if (!seen_dot || p.schema.empty() || p.table.empty())
        throw std::invalid_argument("pattern \"" + std::string(item) +
                                    "\" is not of the form schema.table (use * as a wildcard, e.g. public.*)");
    return p;
}

} // namespace

std::vector<TablePattern> TableFilter::parse_list(std::string_view list) {
    std::vector<TablePattern> out;
    size_t start = 0;
    for (size_t i = 0; i <= list.size(); ++i) {
        if (i + 1 < list.size() && list[i] == '\\') {
            ++i; // an escaped comma does not split; a trailing backslash is parse_item's to report
            continue;
        }
        if (i == list.size() || list[i] == ',') {
            std::string_view item = trim(list.substr(start, i - start));
            if (item.empty())
                throw std::invalid_argument("empty table pattern in \"" + std::string(list) + "\"");
            out.push_back(parse_item(item));
            start = i + 1;
        }
    }
    return out;
}

void TableFilter::include(std::vector<TablePattern> patterns) {
    includes_.insert(includes_.end(), patterns.begin(), patterns.end());
}

void TableFilter::exclude(std::vector<TablePattern> patterns) {
    excludes_.insert(excludes_.end(), patterns.begin(), patterns.end());
}

namespace {

bool matches_any(const std::vector<TablePattern> &patterns, std::string_view schema, std::string_view table) {
    for (const auto &p : patterns)
        if (glob_match(p.schema, schema) && glob_match(p.table, table))
            return true;
    return false;
}

} // namespace

bool TableFilter::includes(std::string_view schema, std::string_view table) const {
    return includes_.empty() || matches_any(includes_, schema, table);
}

bool TableFilter::excludes(std::string_view schema, std::string_view table) const {
    return matches_any(excludes_, schema, table);
}

bool TableFilter::allows(std::string_view schema, std::string_view table) const {
    return includes(schema, table) && !excludes(schema, table);
}

bool glob_match(std::string_view pattern, std::string_view text) {
    // Iterative matcher with single-star backtracking: linear in practice, no recursion.
    size_t p = 0, t = 0, star_p = std::string_view::npos, star_t = 0;
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star_p = p++;
            star_t = t;
            continue;
        }
        if (p < pattern.size()) {
            bool escaped = pattern[p] == '\\' && p + 1 < pattern.size();
            char want = escaped ? pattern[p + 1] : pattern[p];
            if (want == text[t]) {
                p += escaped ? 2 : 1;
                ++t;
                continue;
            }
        }
        if (star_p == std::string_view::npos)
            return false;
        p = star_p + 1;
        t = ++star_t;
    }
    while (p < pattern.size() && pattern[p] == '*')
        ++p;
    return p == pattern.size();
}

} // namespace bemi
