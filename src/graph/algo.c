/*
 * The algorithms of DESIGN.md section 5 on plain numbers, so that they can
 * be checked by hand: degree of authorship (Avelino et al., ICPC 2016),
 * the author threshold, change coupling's degree (code-maat), and the
 * greedy truck factor.
 */
#include "coop/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double coop_graph_doa(bool first_author, int64_t own_changes, int64_t others_changes)
{
    if (others_changes < 0)
        others_changes = 0;
    return 3.293 + 1.098 * (first_author ? 1.0 : 0.0) + 0.164 * (double)own_changes -
           0.321 * log(1.0 + (double)others_changes);
}

bool coop_graph_is_author(double doa, double max_doa)
{
    return max_doa > 0 && doa / max_doa > 0.75 && doa >= 3.293;
}

double coop_graph_coupling_degree(int64_t shared, int64_t revs_a, int64_t revs_b)
{
    if (revs_a + revs_b <= 0)
        return 0;
    return (double)shared / ((double)(revs_a + revs_b) / 2.0) * 100.0;
}

struct pair {
    int64_t file, person;
};

static int by_person(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->person != y->person)
        return x->person < y->person ? -1 : 1;
    return x->file < y->file ? -1 : x->file > y->file;
}

struct cand {
    int64_t person;
    size_t first, count; /* the person's pairs in the sorted array */
};

static int by_count(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->person < y->person ? -1 : x->person > y->person;
}

size_t coop_graph_truck_factor(size_t files_n, const int64_t (*pairs)[2], size_t n_pairs,
                               int64_t *removed, size_t max_removed)
{
    if (files_n == 0)
        return 0;
    struct pair *ps = malloc((n_pairs ? n_pairs : 1) * sizeof *ps);
    size_t *authors = calloc(files_n, sizeof *authors);
    struct cand *cs = malloc((n_pairs ? n_pairs : 1) * sizeof *cs);
    size_t tf = 0;
    if (!ps || !authors || !cs)
        goto out;
    size_t np = 0;
    for (size_t i = 0; i < n_pairs; i++) {
        if (pairs[i][0] < 0 || (size_t)pairs[i][0] >= files_n)
            continue;
        ps[np++] = (struct pair){pairs[i][0], pairs[i][1]};
    }
    qsort(ps, np, sizeof *ps, by_person);
    size_t nc = 0;
    for (size_t i = 0; i < np; i++) {
        if (i > 0 && ps[i].person == ps[i - 1].person && ps[i].file == ps[i - 1].file)
            continue; /* a duplicate pair counts once */
        if (nc == 0 || cs[nc - 1].person != ps[i].person)
            cs[nc++] = (struct cand){ps[i].person, i, 0};
        ps[cs[nc - 1].first + cs[nc - 1].count++] = ps[i];
        authors[ps[i].file]++;
    }
    size_t orphans = 0;
    for (size_t f = 0; f < files_n; f++)
        orphans += authors[f] == 0;
    /* Removing a person never changes how many files another one authors,
     * so the greedy order is the order of the counts. */
    qsort(cs, nc, sizeof *cs, by_count);
    for (size_t k = 0; k < nc && orphans * 2 <= files_n; k++) {
        for (size_t j = 0; j < cs[k].count; j++)
            if (--authors[ps[cs[k].first + j].file] == 0)
                orphans++;
        if (tf < max_removed)
            removed[tf] = cs[k].person;
        tf++;
    }
out:
    free(ps);
    free(authors);
    free(cs);
    return tf;
}
