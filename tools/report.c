/* report.c - awq-report (`make report OUT=...`): an HTML page with PNG plots of an experiment's
 * search, drawn by gnuplot from the objects its plan names:
 *   loss versus ratio of every scale group of every block (relative to ratio 0), the chosen
 *   point marked; the chosen ratio per block and group as a heat map; the histogram of the clip
 *   shrink chosen per linear; and the perplexity table of an eval JSON when given.
 * Usage: awq-report --work OUT.awq [--eval eval.json] [--out DIR] (default DIR: WORK/report). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../cache/atomic.h"
#include "../cache/store.h"
#include "../stages/common/log.h"
#include "../stages/common/opts.h"

enum { MAX_BLOCKS = 1024, MAX_GROUPS = 4, MAX_LIN = 5, MAX_GRID = 256, MAX_CAND = 64 };
static const char *const GROUPS[MAX_GROUPS] = {"input_layernorm", "v_proj", "post_attention_layernorm", "up_proj"};
static const char *const LINEARS[MAX_LIN] = {"self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

typedef struct report {
    int n_blocks, n_grid, n_cand, clip_grid;
    int have_group[MAX_GROUPS];
    float loss[MAX_BLOCKS][MAX_GROUPS][MAX_GRID];
    int best[MAX_BLOCKS][MAX_GROUPS];
    long hist[MAX_LIN][MAX_CAND];
} report;

static awq_err read_manifest(const char *work, awq_key *sc, awq_key *cl, int *n_blocks)
{
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/manifest.tsv", work);
    FILE *f = fopen(path, "r");
    if (!f) return awq_fail_errno(errno, "cannot open '%s'", path);
    *n_blocks = 0;
    awq_err e = AWQ_OK;
    while (!e && fgets(line, sizeof line, f)) {
        int b;
        char stage[64], hex[64];
        if (sscanf(line, "%d\t%63s\t%63s", &b, stage, hex) != 3 || b < 0 || b >= MAX_BLOCKS) continue;
        if (strcmp(stage, "scale-search") == 0) e = awq_key_parse(&sc[b], hex);
        else if (strcmp(stage, "clip-search") == 0) e = awq_key_parse(&cl[b], hex);
        if (b + 1 > *n_blocks) *n_blocks = b + 1;
    }
    fclose(f);
    return e;
}

static awq_err collect(awq_store *s, const awq_key *sc, const awq_key *cl, report *r)
{
    for (int b = 0; b < r->n_blocks; b++) {
        awq_object *o = NULL;
        awq_err e = awq_store_get(s, &sc[b], &o);
        if (e) return awq_context(e, "scales of block %d (run make quantize first)", b);
        for (int g = 0; g < MAX_GROUPS; g++) {
            char nm[96];
            snprintf(nm, sizeof nm, "%s.losses", GROUPS[g]);
            const awq_tensor *tl = awq_object_tensor(o, nm);
            snprintf(nm, sizeof nm, "%s.best", GROUPS[g]);
            const awq_tensor *tb = awq_object_tensor(o, nm);
            if (!tl || !tb || tl->dtype != AWQ_DT_F32 || tl->shape[0] > MAX_GRID) continue;
            r->have_group[g] = 1;
            r->n_grid = (int)tl->shape[0];
            memcpy(r->loss[b][g], tl->data, tl->nbytes);
            r->best[b][g] = *(const int32_t *)tb->data;
        }
        awq_object_free(o);
        if ((e = awq_store_get(s, &cl[b], &o))) return awq_context(e, "clips of block %d", b);
        for (int l = 0; l < MAX_LIN; l++) {
            char nm[96];
            snprintf(nm, sizeof nm, "%s.best", LINEARS[l]);
            const awq_tensor *t = awq_object_tensor(o, nm);
            snprintf(nm, sizeof nm, "%s.loss", LINEARS[l]);
            const awq_tensor *tl = awq_object_tensor(o, nm);
            if (!t || t->dtype != AWQ_DT_I32 || !tl || tl->ndim != 3) continue;
            r->n_cand = (int)tl->shape[2] < MAX_CAND ? (int)tl->shape[2] : MAX_CAND;
            const char *cg = o->recipe ? strstr(o->recipe, "clip_grid=") : NULL; /* the shrink step is 1/clip_grid */
            r->clip_grid = cg ? atoi(cg + 10) : 20;
            const int32_t *bi = t->data;
            for (size_t i = 0; i < t->nbytes / 4; i++)
                if (bi[i] >= 0 && bi[i] < MAX_CAND) r->hist[l][bi[i]]++;
        }
        awq_object_free(o);
    }
    return AWQ_OK;
}

static FILE *open_out(const char *dir, const char *name, awq_err *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) *e = awq_fail_errno(errno, "cannot write '%s'", path);
    return f;
}

/* Data files and the gnuplot script. */
static awq_err write_plots(const char *dir, const report *r)
{
    awq_err e = AWQ_OK;
    FILE *gp = open_out(dir, "plots.gp", &e);
    if (!gp) return e;
    fprintf(gp, "set terminal pngcairo size 900,520 font ',10' noenhanced\nset key outside right\nset grid\n"
                "set palette defined (0 '#1f4e9c', 0.5 '#7b3294', 1 '#e66101')\nset cbrange [0:%d]\nset cblabel 'block'\n", r->n_blocks > 1 ? r->n_blocks - 1 : 1);
    for (int g = 0; g < MAX_GROUPS && !e; g++) {
        if (!r->have_group[g]) continue;
        char name[128];
        snprintf(name, sizeof name, "loss_%s.dat", GROUPS[g]);
        FILE *f = open_out(dir, name, &e);
        if (!f) break;
        /* one block per data set: ratio, loss / loss(ratio 0); chosen points in a second file */
        for (int b = 0; b < r->n_blocks; b++) {
            fprintf(f, "# block %d\n", b);
            double l0 = r->loss[b][g][0] > 0 ? r->loss[b][g][0] : 1;
            for (int k = 0; k < r->n_grid; k++) fprintf(f, "%g %g\n", (double)k / r->n_grid, r->loss[b][g][k] / l0);
            fprintf(f, "\n\n");
        }
        fclose(f);
        snprintf(name, sizeof name, "best_%s.dat", GROUPS[g]);
        if (!(f = open_out(dir, name, &e))) break;
        for (int b = 0; b < r->n_blocks; b++) {
            int k = r->best[b][g];
            double l0 = r->loss[b][g][0] > 0 ? r->loss[b][g][0] : 1;
            fprintf(f, "%g %g %d\n", (double)k / r->n_grid, r->loss[b][g][k] / l0, b);
        }
        fclose(f);
        fprintf(gp, "set output 'loss_%s.png'\nset title 'scale search: %s -> loss / loss(ratio 0), chosen ratio circled'\n"
                    "set xlabel 'ratio'\nset ylabel 'relative loss'\nset logscale y\n"
                    "plot for [b=0:%d] 'loss_%s.dat' index b using 1:2:(b) with lines notitle lc palette, "
                    "'best_%s.dat' using 1:2 with points pt 6 ps 1.6 lc rgb 'black' title 'chosen'\nunset logscale y\n",
                GROUPS[g], GROUPS[g], r->n_blocks - 1, GROUPS[g], GROUPS[g]);
    }
    /* heat map: block x group -> chosen ratio */
    FILE *f = e ? NULL : open_out(dir, "heat.dat", &e);
    if (f) {
        for (int b = 0; b < r->n_blocks; b++)
            for (int g = 0; g < MAX_GROUPS; g++)
                fprintf(f, "%d %d %g\n", b, g, r->have_group[g] ? (double)r->best[b][g] / r->n_grid : -0.05);
        fclose(f);
        fprintf(gp, "set output 'heat.png'\nset title 'chosen ratio per block and scale group (grey: group absent)'\n"
                    "set xlabel 'block'\nset ylabel ''\nset ytics ('input_layernorm' 0, 'v_proj' 1, 'post_attention_layernorm' 2, 'up_proj' 3)\nset cblabel 'ratio'\n"
                    "set cbrange [-0.05:1]\nset palette defined (-0.05 'grey90', 0 'white', 0.5 'orange', 1 'dark-red')\n"
                    "plot 'heat.dat' using 1:2:3 with image notitle\nunset ytics\nset ytics\nunset colorbox\n");
    }
    if (!e && (f = open_out(dir, "clip.dat", &e))) {
        for (int k = 0; k < r->n_cand; k++) {
            fprintf(f, "%g", (double)k / (r->clip_grid > 0 ? r->clip_grid : 20));
            for (int l = 0; l < MAX_LIN; l++) fprintf(f, " %ld", r->hist[l][k]);
            fprintf(f, "\n");
        }
        fclose(f);
        fprintf(gp, "set output 'clip.png'\nset title 'clip search: chosen shrink per (output channel, group), all blocks'\n"
                    "set xlabel 'shrink (1 - max_val / max|w|)'\nset ylabel 'count'\nset style data histograms\n"
                    "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
                    "plot for [l=2:%d] 'clip.dat' using l:xtic(1) title columnhead(l) \n", MAX_LIN + 1);
        /* columnhead needs a header: rewrite with one */
        char path[4096];
        snprintf(path, sizeof path, "%s/clip.dat", dir);
        FILE *in = fopen(path, "r");
        char *body = NULL;
        size_t len = 0;
        if (in) {
            FILE *mem = open_memstream(&body, &len);
            int c;
            while ((c = fgetc(in)) != EOF) fputc(c, mem);
            fclose(mem);
            fclose(in);
        }
        if ((f = open_out(dir, "clip.dat", &e))) {
            fprintf(f, "shrink");
            for (int l = 0; l < MAX_LIN; l++) fprintf(f, " %s", strchr(LINEARS[l], '.') + 1);
            fprintf(f, "\n%s", body ? body : "");
            fclose(f);
        }
        free(body);
    }
    fclose(gp);
    return e;
}

static awq_err write_html(const char *dir, const report *r, const char *eval_json, const char *work)
{
    awq_err e = AWQ_OK;
    FILE *h = open_out(dir, "index.html", &e);
    if (!h) return e;
    fprintf(h, "<!doctype html><html><head><meta charset='utf-8'><title>awqmake report</title>"
               "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}"
               "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}</style></head><body>\n"
               "<h1>awqmake report</h1><p>experiment <code>%s</code>: %d blocks, scale grid %d</p>\n", work, r->n_blocks, r->n_grid);
    if (eval_json) {
        json_error_t jerr;
        json_t *j = json_load_file(eval_json, 0, &jerr);
        json_t *res = j ? json_object_get(j, "results") : NULL;
        if (!res) { fclose(h); return awq_fail(AWQ_ERR_FORMAT, "'%s' is not an awq-eval result: %s", eval_json, j ? "no results" : jerr.text); }
        fprintf(h, "<h2>Perplexity</h2><p>%lld windows of %lld tokens</p><table><tr><th>variant</th><th>ppl</th><th>KL vs model</th><th>top-1</th></tr>\n",
                (long long)json_integer_value(json_object_get(j, "windows")), (long long)json_integer_value(json_object_get(j, "seqlen")));
        size_t i;
        json_t *v;
        json_array_foreach(res, i, v)
            fprintf(h, "<tr><td style='text-align:left'>%s</td><td>%.4f</td><td>%.6f</td><td>%.4f</td></tr>\n",
                    json_string_value(json_object_get(v, "name")), json_real_value(json_object_get(v, "ppl")),
                    json_real_value(json_object_get(v, "kl_vs_first")), json_real_value(json_object_get(v, "top1_vs_first")));
        fprintf(h, "</table>\n");
        json_decref(j);
    }
    fprintf(h, "<h2>Scale search</h2>\n");
    for (int g = 0; g < MAX_GROUPS; g++)
        if (r->have_group[g]) fprintf(h, "<p><img src='loss_%s.png' alt='loss vs ratio, %s'></p>\n", GROUPS[g], GROUPS[g]);
    fprintf(h, "<p><img src='heat.png' alt='chosen ratio heat map'></p>\n<h2>Clip search</h2><p><img src='clip.png' alt='clip histogram'></p>\n</body></html>\n");
    fclose(h);
    return e;
}

int main(int argc, char **argv)
{
    const char *work = NULL, *eval = NULL, *out = NULL, *store_dir = NULL;
    const awq_opt opts[] = {
        {"work", 'w', AWQ_OPT_STRING, &work, "DIR", "the experiment's plan directory (OUT.awq)", 1},
        {"eval", 'e', AWQ_OPT_STRING, &eval, "FILE", "an awq-eval JSON result for the perplexity table", 0},
        {"out", 'o', AWQ_OPT_STRING, &out, "DIR", "report directory (default WORK/report)", 0},
        {"store", 0, AWQ_OPT_STRING, &store_dir, "DIR", "object store (default $AWQ_CACHE or ~/.cache/awqmake)", 0},
        {0},
    };
    awq_cli cli = {"awq-report", "HTML page with PNG plots of an experiment's scale and clip search; prints its path", NULL, NULL, 0, 0};
    int rc = awq_opts_parse(&cli, opts, argc, argv);
    if (rc != AWQ_OPTS_OK) return rc == AWQ_OPTS_HELP ? 0 : 2;
    awq_log_init(cli.prog, argc, argv);
    char outdir[4096];
    snprintf(outdir, sizeof outdir, "%s", out ? out : "");
    if (!out) snprintf(outdir, sizeof outdir, "%s/report", work);
    static report r; /* large: static storage */
    static awq_key sc[MAX_BLOCKS], cl[MAX_BLOCKS];
    awq_store *s = NULL;
    awq_err e = read_manifest(work, sc, cl, &r.n_blocks);
    if (!e) e = awq_store_open(&s, store_dir, 0);
    if (!e) e = collect(s, sc, cl, &r);
    if (!e) e = awq_mkdirs(outdir);
    if (!e) e = write_plots(outdir, &r);
    if (!e) e = write_html(outdir, &r, eval, work);
    if (!e) {
        char cmd[8300];
        snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot plots.gp 2>gnuplot.log", outdir);
        if (system(cmd) != 0) {
            e = awq_fail(AWQ_ERR_IO, "gnuplot failed (see '%s/gnuplot.log')", outdir);
            awq_hint("is gnuplot installed? tools/install-deps.sh installs it (gnuplot-nox)");
        }
    }
    awq_store_close(s);
    if (e) { awq_report(cli.prog); return 1; }
    printf("%s/index.html\n", outdir);
    return 0;
}
