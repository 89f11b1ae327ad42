package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// series is one line of a chart.
type series struct {
	name   string
	points []point // x is a category index
	dashed bool
}

type point struct {
	x int
	y float64
}

type panel struct {
	title, xLabel, yLabel string
	categories            []string
	series                []series
}

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// WriteSVG draws throughput (MB/s of uncompressed input) against object size for every single-object
// scenario and end-to-end throughput against workers for every object size; below them, the same related to
// the floor on CPU time (MB per CPU-second over the floor's), which a busy machine disturbs far less.
func (rep *Report) WriteSVG(w io.Writer) error {
	mbps := func(r Result) float64 { return r.MBPerSec }
	cpuRatio := func(r Result) float64 { return r.CPURatioToFloor }
	const unit, ratio = "MB/s of uncompressed input", "MB per CPU-second, × floor"
	panels := []panel{
		rep.sizePanel("Throughput vs object size", unit, mbps),
		rep.workersPanel("End to end: throughput vs workers", unit, mbps),
		rep.sizePanel("Relative to the floor, on CPU time, vs object size", ratio, cpuRatio),
		rep.workersPanel("End to end: relative to the floor, on CPU time, vs workers", ratio, cpuRatio),
	}
	const pw, ph = 560, 420
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", 2*pw, 2*ph+40, 2*pw, 2*ph+40)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	title := "logrouter bench"
	if rep.Commit != "" {
		title += " @ " + rep.Commit
	}
	if rep.Machine.CPU != "" {
		title += fmt.Sprintf(" — %s, %d CPUs", rep.Machine.CPU, rep.Machine.CPUs)
	}
	fmt.Fprintf(&b, `<text x="%d" y="22" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`+"\n", pw, html.EscapeString(title))
	for i, p := range panels {
		drawPanel(&b, p, (i%2)*pw, 40+(i/2)*ph, pw, ph)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (rep *Report) sizePanel(title, yLabel string, y func(Result) float64) panel {
	p := panel{title: title, xLabel: "object size (uncompressed)", yLabel: yLabel}
	sizes := rep.sizes()
	for _, s := range sizes {
		p.categories = append(p.categories, strconv.Itoa(s)+" MiB")
	}
	var order []string
	lines := map[string]*series{}
	for _, r := range rep.Results {
		if r.Status != StatusOK || r.Scenario == EndToEnd {
			continue
		}
		name := r.Variant()
		s, ok := lines[name]
		if !ok {
			s = &series{name: name, dashed: r.Scenario == FloorGunzip || r.Scenario == FloorSplit}
			lines[name] = s
			order = append(order, name)
		}
		if v := y(r); v > 0 {
			s.points = append(s.points, point{slices.Index(sizes, r.SizeMiB), v})
		}
	}
	for _, n := range order {
		if len(lines[n].points) > 0 {
			p.series = append(p.series, *lines[n])
		}
	}
	return p
}

func (rep *Report) workersPanel(title, yLabel string, y func(Result) float64) panel {
	p := panel{title: title, xLabel: "workers", yLabel: yLabel}
	var workers []int
	for _, r := range rep.Results {
		if r.Status == StatusOK && r.Scenario == EndToEnd && !slices.Contains(workers, r.Workers) {
			workers = append(workers, r.Workers)
		}
	}
	slices.Sort(workers)
	for _, w := range workers {
		p.categories = append(p.categories, strconv.Itoa(w))
	}
	for _, size := range rep.sizes() {
		s := series{name: strconv.Itoa(size) + " MiB objects"}
		for _, r := range rep.Results {
			if r.Status == StatusOK && r.Scenario == EndToEnd && r.SizeMiB == size && y(r) > 0 {
				s.points = append(s.points, point{slices.Index(workers, r.Workers), y(r)})
			}
		}
		if len(s.points) > 0 {
			slices.SortFunc(s.points, func(a, b point) int { return a.x - b.x })
			p.series = append(p.series, s)
		}
	}
	return p
}

// niceMax rounds v up to 1, 2 or 5 × a power of ten and returns it with a tick step.
func niceMax(v float64) (top, step float64) {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1, 0.2
	}
	mag := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if top = m * mag; top >= v {
			break
		}
	}
	return top, top / 5
}

func drawPanel(b *strings.Builder, p panel, x0, y0, w, h int) {
	const ml, mr, mt, mb = 70, 20, 30, 120 // margins; the legend goes below the axis
	pw, ph := float64(w-ml-mr), float64(h-mt-mb)
	ox, oy := float64(x0+ml), float64(y0+mt)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" font-size="13" font-weight="bold">%s</text>`+"\n", x0+w/2, y0+16, html.EscapeString(p.title))
	if len(p.series) == 0 || len(p.categories) == 0 {
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle" fill="#777">not measured in this run</text>`+"\n", ox+pw/2, oy+ph/2)
		return
	}
	maxY := 0.0
	for _, s := range p.series {
		for _, pt := range s.points {
			maxY = max(maxY, pt.y)
		}
	}
	top, step := niceMax(maxY)
	const pad = 30 // keeps the first and last points off the axes
	xAt := func(i int) float64 {
		if len(p.categories) == 1 {
			return ox + pw/2
		}
		return ox + pad + (pw-2*pad)*float64(i)/float64(len(p.categories)-1)
	}
	yAt := func(v float64) float64 { return oy + ph - ph*v/top }
	// Grid and y ticks.
	for i := 0; float64(i)*step <= top+step/2; i++ {
		v := math.Round(float64(i)*step*1e6) / 1e6
		y := yAt(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", ox, y, ox+pw, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", ox-6, y+4, strconv.FormatFloat(v, 'f', -1, 64))
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", ox, oy+ph, ox+pw, oy+ph)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", ox, oy, ox, oy+ph)
	for i, c := range p.categories {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", xAt(i), oy+ph+16, html.EscapeString(c))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", ox+pw/2, oy+ph+34, html.EscapeString(p.xLabel))
	fmt.Fprintf(b, `<text transform="translate(%d %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", x0+16, oy+ph/2, html.EscapeString(p.yLabel))
	for i, s := range p.series {
		color := palette[i%len(palette)]
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for _, pt := range s.points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xAt(pt.x), yAt(pt.y)))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
		for _, pt := range s.points {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: %s</title></circle>`+"\n",
				xAt(pt.x), yAt(pt.y), color, html.EscapeString(s.name), strconv.FormatFloat(pt.y, 'g', 3, 64))
		}
		// Legend: two columns below the axis.
		lx := float64(x0+ml) + float64(i%2)*pw/2
		ly := oy + ph + 54 + float64(i/2)*16
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly-4, lx+22, ly-4, color, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+28, ly, html.EscapeString(s.name))
	}
}
