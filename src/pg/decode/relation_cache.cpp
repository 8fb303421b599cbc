#include "pg/decode/relation_cache.hpp"

#include "bemi/json_escape.hpp"
#include "bemi/table_filter.hpp"
#include "pg/boundary.hpp"
#include "pg/compat.hpp"
#include "pg/names.hpp"
#include "pg/string_info_sink.hpp"

namespace bemi_pg {

namespace {

struct CacheEntry {
    Oid relid; // hash key
    RelationInfo *info;
};

// Per backend: the callbacks cannot be unregistered, so they outlive decoding sessions and
// must cope with there being no cache.
HTAB *relation_cache = nullptr;
MemoryContext relation_cache_cxt = nullptr;
const bemi::TableFilter *table_filter = nullptr;
bool callbacks_registered = false;

void invalidate_entry(RelationInfo *info) {
    if (info)
        info->valid = false;
}

void relcache_callback(Datum, Oid relid) {
    if (!relation_cache)
        return;
    if (OidIsValid(relid)) {
        auto *entry = static_cast<CacheEntry *>(hash_search(relation_cache, &relid, HASH_FIND, nullptr));
        if (entry) {
            invalidate_entry(entry->info);
            return;
        }
        // Not a cached table: perhaps a composite type that a cached table's column uses
        // (ALTER TYPE ... ADD ATTRIBUTE invalidates only the type's own relation).
        HASH_SEQ_STATUS scan;
        hash_seq_init(&scan, relation_cache);
        while ((entry = static_cast<CacheEntry *>(hash_seq_search(&scan))))
            if (entry->info && entry->info->has_rowtypes)
                invalidate_entry(entry->info);
        return;
    }
    HASH_SEQ_STATUS scan;
    hash_seq_init(&scan, relation_cache);
    while (auto *entry = static_cast<CacheEntry *>(hash_seq_search(&scan)))
        invalidate_entry(entry->info);
}

// Renamed schemas, new or dropped json casts and changed owners do not invalidate the
// relations they affect.
void syscache_callback(Datum, int, uint32) {
    relcache_callback(0, InvalidOid);
}

// A function, type or role changed: only relations whose columns depend on a json cast's
// trust (who owns the cast's function and type, and whether they are superusers) need to
// decide again. Types change whenever a table is created, so the rest stay.
void ownership_callback(Datum, int, uint32) {
    if (!relation_cache)
        return;
    HASH_SEQ_STATUS scan;
    hash_seq_init(&scan, relation_cache);
    while (auto *entry = static_cast<CacheEntry *>(hash_seq_search(&scan)))
        if (entry->info && entry->info->uses_casts)
            invalidate_entry(entry->info);
}

// Can no role but a superuser change what this json cast runs? Built-in functions cannot be
// changed at all; otherwise the function (which its owner may replace) and the cast's source
// type (whose owner may drop and re-create the cast) must belong to superusers, as an
// extension like PostGIS installs them. json itself is built in. Anything else is never run:
// decoding runs as whoever reads the slot (the ingestion worker: the bootstrap superuser).
bool json_cast_trusted(Oid castfunc, Oid source_type) {
    if (castfunc < FirstNormalObjectId && get_func_namespace(castfunc) == PG_CATALOG_NAMESPACE)
        return true;
    HeapTuple proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(castfunc));
    if (!HeapTupleIsValid(proc))
        return false;
    const Oid function_owner = reinterpret_cast<Form_pg_proc>(GETSTRUCT(proc))->proowner;
    ReleaseSysCache(proc);
    HeapTuple type = SearchSysCache1(TYPEOID, ObjectIdGetDatum(source_type));
    if (!HeapTupleIsValid(type))
        return false;
    const Oid type_owner = reinterpret_cast<Form_pg_type>(GETSTRUCT(type))->typowner;
    ReleaseSysCache(type);
    return superuser_arg(function_owner) && superuser_arg(type_owner);
}

// The json casts that rendering a type the way to_jsonb() does would run: none, only
// trusted ones, or some untrusted one.
enum class CastUse : uint8 { None, Trusted, Untrusted };

CastUse worse(CastUse a, CastUse b) { return static_cast<uint8>(a) > static_cast<uint8>(b) ? a : b; }

// array_to_json and row_to_json look up the json cast of every element and field type
// themselves (json_categorize_type), recursively, domains by their base type: walk the same
// tree. Ranges, multiranges and the rest print through their output function, which never
// runs a cast.
CastUse json_casts_in(Oid typid, int depth) {
    if (depth > 16)
        return CastUse::Untrusted; // absurd nesting: be careful rather than fast
    Oid base = getBaseType(typid);
    Oid elem = get_element_type(base);
    if (OidIsValid(elem))
        return json_casts_in(elem, depth + 1);
    if (type_is_rowtype(base)) {
        if (base == RECORDOID)
            return CastUse::Untrusted; // fields unknown until run time
        TupleDesc desc = lookup_rowtype_tupdesc(base, -1);
        CastUse use = CastUse::None;
        for (int i = 0; i < desc->natts && use != CastUse::Untrusted; ++i) {
            Form_pg_attribute att = TupleDescAttr(desc, i);
            if (!att->attisdropped)
                use = worse(use, json_casts_in(att->atttypid, depth + 1));
        }
        ReleaseTupleDesc(desc);
        return use;
    }
    if (base < FirstNormalObjectId)
        return CastUse::None;
    Oid castfunc = InvalidOid;
    if (find_coercion_pathway(JSONOID, base, COERCION_EXPLICIT, &castfunc) != COERCION_PATH_FUNC ||
        !OidIsValid(castfunc))
        return CastUse::None;
    return json_cast_trusted(castfunc, base) ? CastUse::Trusted : CastUse::Untrusted;
}

// The to_jsonb() category of a column type (see jsonb_categorize_type in jsonb.c).
ValueKind classify(Oid base, Oid *castfunc) {
    switch (base) {
    case BOOLOID:
        return ValueKind::Bool;
    case INT2OID:
        return ValueKind::Int2;
    case INT4OID:
        return ValueKind::Int4;
    case INT8OID:
        return ValueKind::Int8;
    case FLOAT4OID:
        return ValueKind::Float4;
    case FLOAT8OID:
        return ValueKind::Float8;
    case NUMERICOID:
        return ValueKind::Numeric;
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID:
        return ValueKind::Text;
    case JSONOID:
        return ValueKind::Json;
    case JSONBOID:
        return ValueKind::Jsonb;
    case BYTEAOID:
        return ValueKind::Bytea;
    case DATEOID:
    case TIMESTAMPOID:
    case TIMESTAMPTZOID:
        return ValueKind::DateTime;
    default:
        break;
    }
    if (OidIsValid(get_element_type(base)))
        return ValueKind::Array;
    if (type_is_rowtype(base))
        return ValueKind::Composite;
    if (base >= FirstNormalObjectId &&
        find_coercion_pathway(JSONOID, base, COERCION_EXPLICIT, castfunc) == COERCION_PATH_FUNC)
        return ValueKind::JsonCast;
    return ValueKind::Other;
}

// Columns of the index that identifies rows: the replica identity index under USING INDEX,
// otherwise the primary key (also under FULL and NOTHING, where it still names the row).
void fill_key(RelationInfo *info, Relation rel) {
    Oid index_oid = rel->rd_rel->relreplident == REPLICA_IDENTITY_INDEX ? RelationGetReplicaIndex(rel)
                                                                        : RelationGetPrimaryKeyIndex(rel);
    info->nkeys = 0;
    info->key_attnums = nullptr;
    info->key_in_old_tuple = false;
    if (!OidIsValid(index_oid))
        return;
    Relation index = RelationIdGetRelation(index_oid);
    if (!RelationIsValid(index))
        return;
    const int nkeys = index->rd_index->indnkeyatts;
    info->key_attnums = static_cast<AttrNumber *>(palloc(sizeof(AttrNumber) * nkeys));
    bool in_old = true;
    for (int i = 0; i < nkeys; ++i) {
        AttrNumber attnum = index->rd_index->indkey.values[i];
        info->key_attnums[i] = attnum;
        in_old = in_old && attnum > 0 && attnum <= info->natts && info->columns[attnum - 1].in_old_tuple;
    }
    RelationClose(index);
    info->nkeys = nkeys;
    info->key_in_old_tuple = in_old;
}

void fill_columns(RelationInfo *info, Relation rel) {
    TupleDesc desc = RelationGetDescr(rel);
    const bool full = rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL;
    Bitmapset *identity = full ? nullptr : RelationGetIdentityKeyBitmap(rel);

    info->natts = desc->natts;
    info->columns = static_cast<ColumnInfo *>(palloc0(sizeof(ColumnInfo) * desc->natts));
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        ColumnInfo *col = &info->columns[i];
        if (!attribute_is_stored(att)) {
            col->kind = ValueKind::Dropped;
            continue;
        }
        StringInfoData key;
        initStringInfo(&key);
        StringInfoSink sink{&key};
        bemi::append_json_string(sink, NameStr(att->attname), strlen(NameStr(att->attname)));
        appendStringInfoChar(&key, ':');
        col->json_key = key.data;
        col->json_key_len = key.len;

        col->typlen = att->attlen;
        col->base_type = getBaseType(att->atttypid);
        Oid castfunc = InvalidOid;
        col->kind = classify(col->base_type, &castfunc);
        // A value whose rendering would reach an untrusted cast is recorded by its output
        // function's text instead (fallback "untrusted_cast"); trusted casts run guarded.
        if (col->kind == ValueKind::JsonCast) {
            if (json_cast_trusted(castfunc, col->base_type)) {
                fmgr_info_cxt(castfunc, &col->cast, info->cxt);
                col->guarded = true;
            } else {
                col->kind = ValueKind::Other;
                col->untrusted = true;
            }
        } else if (col->kind == ValueKind::Array || col->kind == ValueKind::Composite) {
            const CastUse use = json_casts_in(col->base_type, 0);
            if (use == CastUse::Untrusted) {
                col->kind = ValueKind::Other;
                col->untrusted = true;
            }
            col->guarded = use == CastUse::Trusted;
            info->has_rowtypes = true;
        }
        if (col->guarded || col->untrusted)
            info->uses_casts = true;
        Oid output_func;
        bool is_varlena;
        getTypeOutputInfo(att->atttypid, &output_func, &is_varlena);
        fmgr_info_cxt(output_func, &col->output, info->cxt);

        col->in_old_tuple =
            full || bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, identity);
    }
}

void append_escaped_pair(StringInfo buf, const char *key, const char *value) {
    StringInfoSink sink{buf};
    appendStringInfo(buf, "\"%s\":", key);
    bemi::append_json_string(sink, value, strlen(value));
    appendStringInfoChar(buf, ',');
}

// Patterns in bemi.excluded_tables, if the extension is installed. Read through the catalog
// snapshot, which during decoding is the historic one (the table is a user_catalog_table), so
// decoding the same WAL again makes the same decisions.
List *excluded_patterns() {
    Oid schema = get_namespace_oid(names::kSchema, true);
    Oid table = OidIsValid(schema) ? get_relname_relid("excluded_tables", schema) : InvalidOid;
    if (!OidIsValid(table))
        return NIL;
    List *patterns = NIL;
    Relation rel = table_open(table, AccessShareLock);
    SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, nullptr, 0, nullptr);
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = systable_getnext(scan))) {
        bool isnull;
        Datum pattern = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);
        if (!isnull)
            patterns = lappend(patterns, TextDatumGetCString(pattern));
    }
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return patterns;
}

bool excluded_by_table(const char *schema, const char *table, const char *root_schema, const char *root_table) {
    List *patterns = excluded_patterns();
    if (patterns == NIL)
        return false;
    const int n = list_length(patterns);
    const char **items = static_cast<const char **>(palloc(sizeof(char *) * n));
    int i = 0;
    ListCell *cell;
    foreach (cell, patterns)
        items[i++] = static_cast<const char *>(lfirst(cell));
    bool excluded = false;
    run_core("bemi: bemi.excluded_tables", [&] {
        bemi::TableFilter filter;
        for (int k = 0; k < n && !excluded; ++k) {
            try {
                filter.exclude(bemi::TableFilter::parse_list(items[k]));
            } catch (const std::invalid_argument &) {
                continue; // the table's CHECK keeps these out; a bad row must not stop decoding
            }
        }
        excluded = filter.excludes(schema, table) ||
                   (root_schema && root_table && filter.excludes(root_schema, root_table));
    });
    return excluded;
}

// One of the extension's tables whose changes are never emitted (kUncapturedBemiTables).
bool uncaptured_bemi_table(const char *schema, const char *table) {
    if (strcmp(schema, names::kSchema) != 0)
        return false;
    for (const char *name : kUncapturedBemiTables)
        if (strcmp(table, name) == 0)
            return true;
    return false;
}

void fill_names(RelationInfo *info, Relation rel, const char *database_json) {
    const char *schema = get_namespace_name(RelationGetNamespace(rel));
    const char *table = RelationGetRelationName(rel);
    StringInfoData buf;
    initStringInfo(&buf);
    appendStringInfo(&buf, "{\"database\":%s,", database_json);
    append_escaped_pair(&buf, "schema", schema);
    append_escaped_pair(&buf, "table", table);

    const char *root_schema = nullptr;
    const char *root_table = nullptr;
    if (rel->rd_rel->relispartition) {
        List *ancestors = get_partition_ancestors(RelationGetRelid(rel));
        if (ancestors != NIL) {
            Oid root = llast_oid(ancestors);
            root_schema = get_namespace_name(get_rel_namespace(root));
            root_table = get_rel_name(root);
            if (root_schema && root_table) {
                append_escaped_pair(&buf, "root_schema", root_schema);
                append_escaped_pair(&buf, "root_table", root_table);
            }
        }
    }
    info->prefix = buf.data;
    info->prefix_len = buf.len;
    info->name_for_messages = psprintf("%s.%s", schema, table);

    bool captured = true;
    if (table_filter && !table_filter->empty()) {
        const bemi::TableFilter *filter = table_filter;
        run_core("bemi: table filter", [&] {
            // A partition is named by its own name or its root's, so filters on the
            // partitioned table cover every partition.
            bool included = filter->includes(schema, table) ||
                            (root_schema && root_table && filter->includes(root_schema, root_table));
            bool excluded = filter->excludes(schema, table) ||
                            (root_schema && root_table && filter->excludes(root_schema, root_table));
            captured = included && !excluded;
        });
    }
    info->captured = captured && !uncaptured_bemi_table(schema, table) &&
                     !excluded_by_table(schema, table, root_schema, root_table);
}

RelationInfo *build(Relation rel, const char *database_json) {
    MemoryContext cxt = AllocSetContextCreate(relation_cache_cxt, "bemi relation", ALLOCSET_SMALL_SIZES);
    MemoryContext old = MemoryContextSwitchTo(cxt);
    auto *info = static_cast<RelationInfo *>(palloc0(sizeof(RelationInfo)));
    info->relid = RelationGetRelid(rel);
    info->cxt = cxt;
    fill_columns(info, rel);
    fill_key(info, rel);
    fill_names(info, rel, database_json);
    MemoryContextSwitchTo(old);
    info->valid = true;
    return info;
}

} // namespace

void relation_cache_init(const bemi::TableFilter *filter) {
    relation_cache_destroy();
    relation_cache_cxt = AllocSetContextCreate(CacheMemoryContext, "bemi relation cache", ALLOCSET_DEFAULT_SIZES);
    HASHCTL ctl;
    ctl.keysize = sizeof(Oid);
    ctl.entrysize = sizeof(CacheEntry);
    ctl.hcxt = relation_cache_cxt;
    relation_cache = hash_create("bemi relation cache", 128, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    table_filter = filter;
    if (!callbacks_registered) {
        CacheRegisterRelcacheCallback(relcache_callback, 0);
        CacheRegisterSyscacheCallback(NAMESPACEOID, syscache_callback, 0);
        CacheRegisterSyscacheCallback(CASTSOURCETARGET, syscache_callback, 0);
        // Whether a cast is trusted depends on who owns its function and type, and on whether
        // the owners are superusers.
        CacheRegisterSyscacheCallback(PROCOID, ownership_callback, 0);
        CacheRegisterSyscacheCallback(TYPEOID, ownership_callback, 0);
        CacheRegisterSyscacheCallback(AUTHOID, ownership_callback, 0);
        callbacks_registered = true;
    }
}

void relation_cache_destroy() {
    // A session that ended in ERROR never reached shutdown: its cache is dropped here.
    if (relation_cache_cxt)
        MemoryContextDelete(relation_cache_cxt);
    relation_cache_cxt = nullptr;
    relation_cache = nullptr;
    table_filter = nullptr;
}

void relation_cache_release(const bemi::TableFilter *filter) {
    if (table_filter == filter)
        relation_cache_destroy();
}

RelationInfo *relation_cache_get(Relation rel, const char *database_json) {
    Oid relid = RelationGetRelid(rel);
    bool found;
    auto *entry = static_cast<CacheEntry *>(hash_search(relation_cache, &relid, HASH_ENTER, &found));
    if (!found)
        entry->info = nullptr;
    if (entry->info && entry->info->valid)
        return entry->info;
    // Build before freeing the old entry: building may process invalidations that would
    // otherwise find a dangling pointer.
    RelationInfo *fresh = build(rel, database_json);
    entry = static_cast<CacheEntry *>(hash_search(relation_cache, &relid, HASH_FIND, nullptr));
    if (entry->info)
        MemoryContextDelete(entry->info->cxt);
    entry->info = fresh;
    return fresh;
}

} // namespace bemi_pg
