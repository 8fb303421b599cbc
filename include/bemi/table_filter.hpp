// Table filters: comma-separated "schema.table" patterns where '*' matches any run of
// characters and '\' escapes the next one ('\.' for a dot inside a name).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bemi {

struct TablePattern {
    std::string schema;
    std::string table;
};

class TableFilter {
public:
    // Throws std::invalid_argument with a readable message on a malformed list.
    static std::vector<TablePattern> parse_list(std::string_view list);

    void include(std::vector<TablePattern> patterns);
    void exclude(std::vector<TablePattern> patterns);

    // A table passes when it matches an include pattern (or there are none) and no exclude
    // pattern. Decided once per relation, so this need not be fast.
    bool allows(std::string_view schema, std::string_view table) const;

    // The two halves of allows(), for tables known by more than one name (a partition and
    // its root): true when there are no include patterns.
    bool includes(std::string_view schema, std::string_view table) const;
    bool excludes(std::string_view schema, std::string_view table) const;

    bool empty() const { return includes_.empty() && excludes_.empty(); }

private:
    std::vector<TablePattern> includes_;
    std::vector<TablePattern> excludes_;
};

// '*' matches any sequence of characters (possibly empty); everything else literally.
// The pattern is already unescaped except that literal stars and backslashes are stored as
// "\*" and "\\".
bool glob_match(std::string_view pattern, std::string_view text);

} // namespace bemi
